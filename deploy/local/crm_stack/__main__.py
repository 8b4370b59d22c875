"""`python -m crm_stack` == `crm-stack`."""

import sys

from crm_stack.cli import main

sys.exit(main())
