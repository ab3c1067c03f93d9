"""What vfbond reads from and does to the kernel: bond state, the few actions, udev, peer announcements."""
