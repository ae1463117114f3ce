/* Stand-in (tests only): the tree's libxenctrl header, which is this
 * machine's.  The mark tells a later header on the path that this one,
 * the tree's, came first. */
#define XEN_STANDIN_TREE_XENCTRL_H 1
#include_next <xenctrl.h>
