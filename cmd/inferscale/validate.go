package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// validateFiles checks every AutoscalingPolicy document in the files and
// prints one line per problem; it returns 1 if any policy is invalid.
func validateFiles(paths []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return eachFile(paths, stdin, stderr, func(path string, data []byte) (status int) {
		results, err := validateDocuments(data)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			status = 1
		}
		for _, r := range results {
			if len(r.errs) == 0 {
				fmt.Fprintf(stdout, "%s: %s valid\n", path, r.name)
				continue
			}
			status = 1
			for _, e := range r.errs {
				fmt.Fprintf(stdout, "%s: %s: %s\n", path, r.name, e.Error())
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

type result struct {
	name string
	errs field.ErrorList
}

// validateDocuments decodes each YAML document strictly, so a misspelt field
// is an error here just as the API server refuses it.
func validateDocuments(data []byte) ([]result, error) {
	var results []result
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return results, nil
		}
		if err != nil {
			return results, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return results, fmt.Errorf("document %d: %w", i, err)
		}
		if meta.Kind != "AutoscalingPolicy" {
			continue
		}
		var p v1alpha1.AutoscalingPolicy
		if err := yaml.UnmarshalStrict(doc, &p); err != nil {
			return results, fmt.Errorf("document %d: %w", i, err)
		}
		name := "AutoscalingPolicy " + p.Namespace + "/" + p.Name
		var errs field.ErrorList
		if p.APIVersion != v1alpha1.GroupVersion.String() {
			errs = append(errs, field.Invalid(field.NewPath("apiVersion"), p.APIVersion, "must be "+v1alpha1.GroupVersion.String()))
		}
		errs = append(errs, v1alpha1.ValidateAutoscalingPolicy(&p)...)
		results = append(results, result{name: name, errs: errs})
	}
}
