package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/careerrelay/careerrelay/configs"
)

func runCheckConfig(args []string) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(os.Stderr, "check-config: -config FILE is required")
		return 2
	}
	if _, err := configs.Load(*path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("config OK")
	return 0
}
