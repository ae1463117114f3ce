# Stand-in (tests only).
from xen.util import auxbin

DEV_MIGRATE_TEST = 0
DEV_MIGRATE_STEP1 = 1
DEV_MIGRATE_STEP2 = 2
DEV_MIGRATE_STEP3 = 3

VTPM_DELETE_SCRIPT = auxbin.scripts_dir() + '/vtpm-delete'
