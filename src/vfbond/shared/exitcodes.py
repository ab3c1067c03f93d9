"""Exit codes that scripts can rely on (documented in README and in `bondctl --help`)."""

OK = 0
FAILED = 1  # the operation was attempted and did not succeed
USAGE = 2  # bad command line or invalid config: nothing was changed
NO_BOND = 3  # the bond does not exist
NO_DAEMON = 4  # the command needs vfbondd and it is not running
REFUSED = 5  # refused as unsafe (e.g. failing over onto an unhealthy backup without --force)
DEGRADED = 6  # `bondctl health`: running on one slave, or a warning stands
DOWN = 7  # `bondctl health`: no usable slave
TIMEOUT = 8  # vfbondd did not answer in time; it may still be working on the request
ALREADY_RUNNING = 9  # vfbondd: another vfbondd answers on daemon.socket
CANNOT_WRITE = 10  # vfbondd: the file system refuses daemon.socket's directory or daemon.state_dir

TABLE = {
    OK: "success",
    FAILED: "the operation failed",
    USAGE: "bad arguments or invalid config; nothing was changed",
    NO_BOND: "the bond does not exist",
    NO_DAEMON: "vfbondd is not running (this command needs it)",
    REFUSED: "refused as unsafe; --force overrides where offered",
    DEGRADED: "health: degraded (one slave, or a warning)",
    DOWN: "health: no usable slave",
    TIMEOUT: "vfbondd did not answer in time (it may still finish: check status); --timeout waits longer",
    ALREADY_RUNNING: "vfbondd: another vfbondd is running on daemon.socket; stop it first",
    CANNOT_WRITE: "vfbondd: cannot write daemon.socket's directory or daemon.state_dir; the message names the fix",
}
