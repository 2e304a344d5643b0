//go:build !linux

package testlib

import "os/exec"

func setDriverProcAttr(*exec.Cmd) {}

func killDriver(cmd *exec.Cmd) { cmd.Process.Kill() }
