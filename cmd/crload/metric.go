package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// runMetric prints the value of one unlabelled sample of a Prometheus
// text exposition (a server's /metrics): bench/run.sh reads the Go
// runtime's allocation counter with it before and after the load.
func runMetric(args []string) int {
	fs := flag.NewFlagSet("metric", flag.ContinueOnError)
	url := fs.String("url", "", "the /metrics URL")
	name := fs.String("name", "", "the sample's name, e.g. go_memstats_alloc_bytes_total")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" || *name == "" {
		fs.Usage()
		return 2
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(*url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crload metric:", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "crload metric: %s answered %s\n", *url, resp.Status)
		return 1
	}
	value, ok, err := sampleValue(resp.Body, *name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crload metric:", err)
		return 1
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "crload metric: no sample %s at %s\n", *name, *url)
		return 1
	}
	fmt.Println(value)
	return 0
}

// sampleValue finds the line "NAME VALUE" (no labels) of a text
// exposition and returns VALUE as written.
func sampleValue(r io.Reader, name string) (string, bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == name {
			return fields[1], true, nil
		}
	}
	return "", false, sc.Err()
}
