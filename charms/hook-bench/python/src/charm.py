#!/usr/bin/env python3
"""hook-bench in Python ops: the behaviour `ensemble bench hooks` compares with the Rust charm.

On ping-relation-changed: read the remote unit's bag, write `seen`, set the status. Written
the way ops users write a charm, so ops' own tool calls are part of what is measured.
"""

import ops


class HookBenchCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        framework.observe(self.on["ping"].relation_changed, self._on_ping_changed)

    def _on_ping_changed(self, event: ops.RelationChangedEvent):
        if event.unit is None:
            return
        n = event.relation.data[event.unit].get("n")
        if n is None:
            return
        event.relation.data[self.unit]["seen"] = n
        self.unit.status = ops.ActiveStatus(f"seen {n}")


if __name__ == "__main__":
    ops.main(HookBenchCharm)
