/* stand-in (tests only): a Xen 4.2 tree has this header; 4.1 calls it xs.h */
