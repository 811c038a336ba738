"""The lightning-agent daemon: connects to a control plane and runs works as processes on this machine."""
