package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// maxEvents bounds the decisions printed; the API server keeps Events about an hour.
const maxEvents = 20

// statusCommand prints a policy's state and its recent decisions. The decisions
// are the policy's Events (rescales, recommendations, holds): the scaler emits
// one per decision that changed something, and the API server expires them, so
// status stays small and the history needs no storage of its own.
func statusCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "path of the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	kubeContext := fs.String("context", "", "the kubeconfig context to use")
	var namespace string
	fs.StringVar(&namespace, "namespace", "", "the policy's namespace (default: the context's)")
	fs.StringVar(&namespace, "n", "", "shorthand for --namespace")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: *kubeContext}
	overrides.Context.Namespace = namespace
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	ns, _, err := loader.Namespace()
	if err != nil {
		fmt.Fprintf(stderr, "kubeconfig: %v\n", err)
		return 1
	}
	cfg, err := loader.ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "kubeconfig: %v\n", err)
		return 1
	}
	scheme, err := cliScheme()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(stderr, "connecting: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, events, err := fetchStatus(ctx, c, ns, fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	printStatus(stdout, p, events, time.Now())
	return 0
}

// cliScheme knows the policies and the core kinds.
func cliScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, v1alpha1.AddToScheme(scheme)
}

// fetchStatus reads the policy and its Events.
func fetchStatus(ctx context.Context, c client.Reader, ns, name string) (*v1alpha1.AutoscalingPolicy, []corev1.Event, error) {
	var p v1alpha1.AutoscalingPolicy
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		return nil, nil, fmt.Errorf("AutoscalingPolicy %s/%s: %w", ns, name, err)
	}
	var list corev1.EventList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{
		"involvedObject.kind": "AutoscalingPolicy", "involvedObject.name": name,
	}); err != nil {
		return &p, nil, fmt.Errorf("list Events of AutoscalingPolicy %s/%s: %w", ns, name, err)
	}
	var events []corev1.Event
	for _, e := range list.Items {
		// A deleted policy of the same name left its own Events.
		if e.InvolvedObject.UID == "" || e.InvolvedObject.UID == p.UID {
			events = append(events, e)
		}
	}
	return &p, events, nil
}

// eventTime is when an Event last happened, whichever API wrote it.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t)) + " ago"
}

// printStatus writes what a user asks first of a policy: what it scales, to
// what and why, whether it works, and what it decided lately.
func printStatus(w io.Writer, p *v1alpha1.AutoscalingPolicy, events []corev1.Event, now time.Time) {
	s := &p.Status
	ref := p.Spec.Target()
	minReplicas := int32(1)
	if p.Spec.MinReplicas != nil {
		minReplicas = *p.Spec.MinReplicas
	}
	fmt.Fprintf(w, "AutoscalingPolicy %s/%s scales %s %s (%s), %d..%d replicas\n", p.Namespace, p.Name, ref.Kind, ref.Name, ref.APIVersion, minReplicas, p.Spec.MaxReplicas)
	mode := "scaling"
	switch {
	case p.Annotations[v1alpha1.PausedAnnotation] == "true":
		mode = "paused (" + v1alpha1.PausedAnnotation + ")"
	case p.Annotations[v1alpha1.RecommendOnlyAnnotation] == "true":
		mode = "recommend-only (" + v1alpha1.RecommendOnlyAnnotation + "): nothing is written"
	}
	fmt.Fprintf(w, "Mode:      %s\n", mode)
	var lastScale time.Time
	if s.LastScaleTime != nil {
		lastScale = s.LastScaleTime.Time
	}
	fmt.Fprintf(w, "Replicas:  current %d, desired %d, last scaled %s\n", s.CurrentReplicas, s.DesiredReplicas, ago(now, lastScale))
	if s.DrivingMetric != "" {
		fmt.Fprintf(w, "Driven by: %s\n", s.DrivingMetric)
	}
	if len(s.CurrentMetrics) > 0 {
		fmt.Fprintln(w, "Metrics:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TYPE\tNAME\tCURRENT\tTARGET\tWANTS")
		for _, m := range s.CurrentMetrics {
			current := m.Current
			if current == "" {
				current = "<unknown>"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\n", m.Type, m.Name, current, m.Target, m.RecommendedReplicas)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "Conditions:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tSINCE\tMESSAGE")
	order := []string{v1alpha1.Ready, v1alpha1.AbleToScale, v1alpha1.ScalingActive, v1alpha1.ScalingLimited}
	conds := slices.Clone(s.Conditions)
	slices.SortStableFunc(conds, func(a, b metav1.Condition) int { return rank(order, a.Type) - rank(order, b.Type) })
	for _, c := range conds {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, ago(now, c.LastTransitionTime.Time), oneLine(c.Message))
	}
	if len(conds) == 0 {
		fmt.Fprintln(tw, "  (none: the scaler has not run this policy yet)")
	}
	tw.Flush()

	slices.SortFunc(events, func(a, b corev1.Event) int { return eventTime(&a).Compare(eventTime(&b)) })
	if len(events) > maxEvents {
		events = events[len(events)-maxEvents:]
	}
	fmt.Fprintln(w, "Recent decisions (the policy's Events, oldest first; the API server keeps them about an hour):")
	if len(events) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  WHEN\tTYPE\tREASON\tWHAT")
	for i := range events {
		e := &events[i]
		msg := oneLine(e.Message)
		if n := eventCount(e); n > 1 {
			msg += fmt.Sprintf(" (×%d)", n)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ago(now, eventTime(e)), e.Type, e.Reason, msg)
	}
	tw.Flush()
}

func eventCount(e *corev1.Event) int32 {
	if e.Series != nil {
		return e.Series.Count
	}
	return e.Count
}

func rank(order []string, t string) int {
	if i := slices.Index(order, t); i >= 0 {
		return i
	}
	return len(order)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
