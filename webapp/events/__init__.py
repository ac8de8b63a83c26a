"""What changed: after a commit, a service publishes a Change; the read cache and the live
update streams are its listeners."""
