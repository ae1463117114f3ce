/* Stand-in (tests only): the tree's libxenstore header (a Xen 4.2 tree has
 * it; 4.1 calls it xs.h), which is this machine's.  The mark tells a later
 * header on the path that this one, the tree's, came first. */
#define XEN_STANDIN_TREE_XENSTORE_H 1
#include_next <xenstore.h>
