"""The end-to-end demo: the whole migration of a sample managed deployment, on one machine.

Sample deployment -> bundle (verified) -> audit -> import + reconcile -> ``homeport serve`` on a
local model, the OpenAI SDK continuing an imported thread by its original ID -> a managed
stand-in and the gateway -> shadow traffic -> ``homeport compare`` -> a rollout whose gates
decide. Each step is a small function in ``STEPS`` taking the shared ``Demo`` state; everything
runs on 127.0.0.1 in one folder and is stopped at the end, also on errors.
"""

from homeport.demo.run import STEPS, run_demo
from homeport.demo.state import Demo, DemoFailed

__all__ = ["STEPS", "Demo", "DemoFailed", "run_demo"]
