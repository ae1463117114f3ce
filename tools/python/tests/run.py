#!/usr/bin/env python3
"""Run the xend module's tests; end with the line 'python: N passed, N failed'.

VTPM_REQUIRE_ALL=1 (make check) turns a skipped two-host test into a
failure: the check must not pass without having run them.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    sys.path.insert(0, HERE)
    suite = unittest.defaultTestLoader.discover(HERE, pattern='test_*.py')
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    if os.environ.get('VTPM_REQUIRE_ALL') == '1' and skipped:
        for test, why in result.skipped:
            print('required test skipped: %s (%s)' % (test.id(), why))
        failed += skipped
        skipped = 0
    print('python: %d passed, %d failed, %d skipped' % (passed, failed,
                                                         skipped))
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
