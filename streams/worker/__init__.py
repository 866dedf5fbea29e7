"""The Faust worker: app build, the tag/spike/delivery steps, metrics, Faust shims."""
