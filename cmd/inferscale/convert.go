package main

import (
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/convert"
)

// convertFiles writes the AutoscalingPolicies converted from the files to
// stdout, each after comments saying where it came from and what changed, and
// one line per source object to stderr. It returns 1 when an object or one of
// its metrics could not be converted.
func convertFiles(paths []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return eachFile(paths, stdin, stderr, func(path string, data []byte) (status int) {
		results, err := convert.Stream(data)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			status = 1
		}
		for _, r := range results {
			if !r.Complete() {
				status = 1
			}
			where := fmt.Sprintf("%s: document %d", path, r.Document)
			if r.Item >= 0 {
				where += fmt.Sprintf(" item %d", r.Item)
			}
			where += ": " + r.Source
			switch {
			case r.Err != nil:
				fmt.Fprintf(stderr, "%s: not convertible: %v\n", where, r.Err)
			case r.Skipped != "":
				fmt.Fprintf(stderr, "%s: skipped: %s\n", where, r.Skipped)
			default:
				out, err := policyYAML(r.Policy)
				if err != nil {
					fmt.Fprintf(stderr, "%s: %v\n", where, err)
					status = 1
					continue
				}
				fmt.Fprintf(stderr, "%s: converted to AutoscalingPolicy %s\n", where, qualified(r.Policy))
				fmt.Fprintf(stdout, "---\n# converted from %s\n", where)
				for _, n := range r.Notes {
					fmt.Fprintf(stdout, "# %s\n", strings.ReplaceAll(n.String(), "\n", " "))
				}
				stdout.Write(out)
			}
			for _, n := range r.Notes {
				fmt.Fprintf(stderr, "  %s\n", n)
			}
		}
		return status
	})
}

func qualified(p *v1alpha1.AutoscalingPolicy) string {
	if p.Namespace == "" {
		return p.Name
	}
	return p.Namespace + "/" + p.Name
}

// policyYAML renders a policy as a user writes one, in the order of its
// fields: no status, no empty creationTimestamp.
func policyYAML(p *v1alpha1.AutoscalingPolicy) ([]byte, error) {
	type meta struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace,omitempty"`
		Labels      map[string]string `json:"labels,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	out, err := yaml.Marshal(struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        meta                           `json:"metadata"`
		Spec            v1alpha1.AutoscalingPolicySpec `json:"spec"`
	}{p.TypeMeta, meta{p.Name, p.Namespace, p.Labels, p.Annotations}, p.Spec})
	if err != nil {
		return nil, fmt.Errorf("rendering the policy: %w", err)
	}
	return out, nil
}
