"""crm_stack: the local Kafka + MongoDB stack without Docker (`crm-stack up|down|status|env|logs`).

Importable from a pytest conftest::

    from crm_stack import StackConfig, down, is_running, up

    up()            # raises StackError with a one-line cause on failure
    is_running()    # True when both parts run and answer
    down()          # stops exactly what `up` started
"""

from crm_stack.config import StackConfig
from crm_stack.errors import StackError
from crm_stack.stack import down, is_running, status, up

__all__ = ["StackConfig", "StackError", "down", "is_running", "status", "up"]
