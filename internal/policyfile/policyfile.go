// Package policyfile reads AutoscalingPolicy YAML or JSON documents as the API server would
// (strict decoding: a misspelt field is an error) and validates them with the admission
// webhook's rules. `inferscale validate` and `inferscale simulate` share it, so a bad policy
// gets the same field errors from both.
package policyfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// Result is one AutoscalingPolicy document.
type Result struct {
	// Name is "AutoscalingPolicy namespace/name".
	Name   string
	Policy *v1alpha1.AutoscalingPolicy
	// Errs are its field errors; empty when it is valid.
	Errs field.ErrorList
}

// Decode decodes and validates every AutoscalingPolicy document of data; documents of other
// kinds are skipped. The error is a document that cannot be decoded at all.
func Decode(data []byte) ([]Result, error) {
	var results []Result
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
		p := &v1alpha1.AutoscalingPolicy{}
		if err := yaml.UnmarshalStrict(doc, p); err != nil {
			return results, fmt.Errorf("document %d: %w", i, err)
		}
		var errs field.ErrorList
		if p.APIVersion != v1alpha1.GroupVersion.String() {
			errs = append(errs, field.Invalid(field.NewPath("apiVersion"), p.APIVersion, "must be "+v1alpha1.GroupVersion.String()))
		}
		errs = append(errs, v1alpha1.ValidateAutoscalingPolicy(p)...)
		results = append(results, Result{Name: "AutoscalingPolicy " + p.Namespace + "/" + p.Name, Policy: p, Errs: errs})
	}
}

// One decodes data that must hold exactly one valid AutoscalingPolicy and returns it; the
// error lists every field error, one per line, as `inferscale validate` prints them.
func One(data []byte) (*v1alpha1.AutoscalingPolicy, error) {
	results, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if len(results) != 1 {
		return nil, fmt.Errorf("want exactly one AutoscalingPolicy document, found %d", len(results))
	}
	r := results[0]
	if len(r.Errs) > 0 {
		msg := r.Name + " is invalid:"
		for _, e := range r.Errs {
			msg += "\n  " + e.Error()
		}
		return nil, errors.New(msg)
	}
	return r.Policy, nil
}
