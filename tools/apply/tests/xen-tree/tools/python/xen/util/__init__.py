# stand-in package (tests only)
