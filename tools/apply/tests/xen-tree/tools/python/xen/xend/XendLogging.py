# Stand-in (tests only).
import logging

log = logging.getLogger('xend')
