/* stand-in for the 2006 migration daemon: vtpm_migrator_if.c */
