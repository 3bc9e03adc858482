package main

import (
	"fmt"
	"io"
	"os"

	"github.com/inferscale/inferscale/internal/policyfile"
)

// validateFiles checks every AutoscalingPolicy document in the files and
// prints one line per problem; it returns 1 if any policy is invalid.
func validateFiles(paths []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return eachFile(paths, stdin, stderr, func(path string, data []byte) (status int) {
		results, err := policyfile.Decode(data)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			status = 1
		}
		for _, r := range results {
			if len(r.Errs) == 0 {
				fmt.Fprintf(stdout, "%s: %s valid\n", path, r.Name)
				continue
			}
			status = 1
			for _, e := range r.Errs {
				fmt.Fprintf(stdout, "%s: %s: %s\n", path, r.Name, e.Error())
			}
		}
		return status
	})
}

// eachFile reads each file ("-" is stdin) and hands it to do; the status is
// 1 when a file cannot be read or do returns 1 for any.
func eachFile(paths []string, stdin io.Reader, stderr io.Writer, do func(path string, data []byte) int) int {
	status := 0
	for _, path := range paths {
		data, err := readInput(path, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			status = 1
			continue
		}
		if do(path, data) != 0 {
			status = 1
		}
	}
	return status
}

func readInput(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}
