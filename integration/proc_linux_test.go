package integration

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the relay if the test process
// dies first, so no relay outlives an interrupted go test.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
