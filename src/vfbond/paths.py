"""Where vfbond keeps its files unless the config says otherwise.

Apart from the config package so that bondctl can name its defaults without loading the config module
(PyYAML, ssl): `bondctl status` and `health` run in monitoring loops and must start fast.
"""

CONFIG = "/etc/vfbond/vfbond.yaml"
SOCKET = "/run/vfbond/control.sock"
STATE_DIR = "/var/lib/vfbond"
