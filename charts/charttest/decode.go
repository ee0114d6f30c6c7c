package charttest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one rendered object, decoded into its API type.
type Object struct {
	Kind, Name, Namespace string
	// Source is the template it came from (helm's "# Source:" comment).
	Source string
	Value  any
}

// Manifest is every object of one rendering.
type Manifest []Object

// newObject returns a pointer to the API type of apiVersion and kind, or nil
// for a kind the chart must not render.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	case "monitoring.coreos.com/v1alpha1 AlertmanagerConfig":
		return &monitoringv1alpha1.AlertmanagerConfig{}
	}
	return nil
}

// Decode splits a manifest stream and decodes every document strictly: a
// field the API type does not have, a duplicate key or a wrong type is an
// error naming the template it came from.
func Decode(stream string) (Manifest, error) {
	var m Manifest
	for _, doc := range splitDocuments(stream) {
		source := ""
		for _, line := range strings.Split(doc, "\n") {
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				source = s
				break
			}
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if head.Kind == "" && head.APIVersion == "" {
			continue // a template that rendered only comments
		}
		v := newObject(head.APIVersion, head.Kind)
		if v == nil {
			return nil, fmt.Errorf("%s: unexpected object %s %s", source, head.APIVersion, head.Kind)
		}
		if err := decodeStrict(doc, v); err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", source, head.Kind, head.Metadata.Name, err)
		}
		m = append(m, Object{Kind: head.Kind, Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, Source: source, Value: v})
	}
	return m, nil
}

// decodeStrict decodes one YAML document into v as the API server's strict
// field validation does: duplicate keys and fields v lacks are errors, named
// by their path (e.g. unknown field "spec.replica").
func decodeStrict(doc string, v any) error {
	j, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// splitDocuments splits a YAML stream at its "---" lines.
func splitDocuments(stream string) []string {
	var docs []string
	var cur bytes.Buffer
	for _, line := range strings.SplitAfter(stream, "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	docs = append(docs, cur.String())
	return docs
}

// All returns the objects of kind, decoded, in rendering order.
func All[T any](m Manifest) []*T {
	var out []*T
	for _, o := range m {
		if v, ok := o.Value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// One returns the only object of type T, or an error when there is not
// exactly one.
func One[T any](m Manifest) (*T, error) {
	all := All[T](m)
	if len(all) != 1 {
		var zero T
		return nil, fmt.Errorf("%d objects of type %T rendered, want 1", len(all), zero)
	}
	return all[0], nil
}
