/* Stand-in (tests only): the tree's libxenctrl header, which is this
 * machine's.  The mark tells a later header on the path that this one,
 * the tree's, came first. */
#define XEN_STANDIN_TREE_XENCTRL_H 1
/* A 4.1/4.2 libxenctrl has grant tables and event channels; this
 * machine's keeps them for old callers when asked. */
#define XC_WANT_COMPAT_EVTCHN_API 1
#define XC_WANT_COMPAT_GNTTAB_API 1
#include_next <xenctrl.h>
