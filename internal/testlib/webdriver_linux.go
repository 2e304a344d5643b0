package testlib

import (
	"os/exec"
	"syscall"
)

// setDriverProcAttr puts chromedriver in a process group of its own, with
// the browsers it starts, so killDriver can end them all; and has the
// kernel kill chromedriver if the test process dies first.
func setDriverProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killDriver kills chromedriver's process group.
func killDriver(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
