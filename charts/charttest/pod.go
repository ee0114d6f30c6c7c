package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Node is what the kubelet would provide to the rendered pod: the Secrets of
// its namespace, the files of its host and its IP; and, for a StatefulSet,
// which of its pods it runs.
type Node struct {
	Secrets   map[string]map[string][]byte // name -> key -> content
	HostFiles map[string][]byte            // host path -> content
	HostIP    string
	// PodIndex is the pod's ordinal, which the StatefulSet controller puts
	// in its apps.kubernetes.io/pod-index label; unused for a Deployment.
	PodIndex int
}

// Process is what the container runs: its arguments, with $(VAR) expanded,
// and its environment as NAME=value.
type Process struct {
	Args []string
	Env  []string
}

// podIndexLabel is the label the StatefulSet controller (Kubernetes 1.28
// and later) gives each pod, holding its ordinal.
const podIndexLabel = "apps.kubernetes.io/pod-index"

// Workload returns the pod template of the rendered workload: the
// Deployment or the StatefulSet, exactly one of which must be rendered. The
// labels are the pod's as its controller creates it for node.
func Workload(m Manifest, node Node) (corev1.PodSpec, map[string]string, error) {
	deps, sets := All[appsv1.Deployment](m), All[appsv1.StatefulSet](m)
	switch {
	case len(deps) == 1 && len(sets) == 0:
		return deps[0].Spec.Template.Spec, deps[0].Spec.Template.Labels, nil
	case len(deps) == 0 && len(sets) == 1:
		labels := map[string]string{}
		for k, v := range sets[0].Spec.Template.Labels {
			labels[k] = v
		}
		labels[podIndexLabel] = strconv.Itoa(node.PodIndex)
		return sets[0].Spec.Template.Spec, labels, nil
	}
	return corev1.PodSpec{}, nil, fmt.Errorf("%d Deployments and %d StatefulSets rendered, want one workload", len(deps), len(sets))
}

// Container lays out the rendered workload's volumes as the kubelet would
// (ConfigMaps from the same rendering, Secrets and host files from node), each
// at its mountPath, and returns the container's process: its environment
// resolved as the kubelet would (downward API included) and its arguments
// with $(VAR) expanded from it. Every mountPath must lie under root: the
// tests render the chart with mountPath set to a temporary directory.
func Container(m Manifest, node Node, root string) (Process, error) {
	spec, podLabels, err := Workload(m, node)
	if err != nil {
		return Process{}, err
	}
	if len(spec.Containers) != 1 {
		return Process{}, fmt.Errorf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	configMaps := map[string]*corev1.ConfigMap{}
	for _, cm := range All[corev1.ConfigMap](m) {
		configMaps[cm.Name] = cm
	}
	for _, vm := range c.VolumeMounts {
		if !vm.ReadOnly {
			return Process{}, fmt.Errorf("volume %s is mounted writable", vm.Name)
		}
		if !strings.HasPrefix(vm.MountPath, root+string(filepath.Separator)) {
			return Process{}, fmt.Errorf("volume %s is mounted at %s, outside mountPath %s", vm.Name, vm.MountPath, root)
		}
		v, ok := volumes[vm.Name]
		if !ok {
			return Process{}, fmt.Errorf("volume mount %s names no volume", vm.Name)
		}
		var files map[string][]byte
		var items []corev1.KeyToPath
		switch {
		case v.ConfigMap != nil:
			cm, ok := configMaps[v.ConfigMap.Name]
			if !ok {
				return Process{}, fmt.Errorf("volume %s: ConfigMap %s is not part of the chart", v.Name, v.ConfigMap.Name)
			}
			files = map[string][]byte{}
			for k, s := range cm.Data {
				files[k] = []byte(s)
			}
			items = v.ConfigMap.Items
		case v.Secret != nil:
			s, ok := node.Secrets[v.Secret.SecretName]
			if !ok {
				return Process{}, fmt.Errorf("volume %s: the test provides no Secret %s", v.Name, v.Secret.SecretName)
			}
			files = s
			items = v.Secret.Items
		case v.HostPath != nil:
			b, ok := node.HostFiles[v.HostPath.Path]
			if !ok {
				return Process{}, fmt.Errorf("volume %s: the test provides no host file %s", v.Name, v.HostPath.Path)
			}
			if err := writeFile(vm.MountPath, b); err != nil {
				return Process{}, err
			}
			continue
		default:
			return Process{}, fmt.Errorf("volume %s: unexpected volume source", v.Name)
		}
		if len(items) > 0 {
			picked := map[string][]byte{}
			for _, it := range items {
				b, ok := files[it.Key]
				if !ok {
					return Process{}, fmt.Errorf("volume %s: no key %s", v.Name, it.Key)
				}
				picked[it.Path] = b
			}
			files = picked
		}
		for name, b := range files {
			if err := writeFile(filepath.Join(vm.MountPath, name), b); err != nil {
				return Process{}, err
			}
		}
	}
	env := map[string]string{}
	var p Process
	for _, e := range c.Env {
		v, err := envValue(e, c, podLabels, node)
		if err != nil {
			return Process{}, fmt.Errorf("env %s: %w", e.Name, err)
		}
		env[e.Name] = v
		p.Env = append(p.Env, e.Name+"="+v)
	}
	p.Args = make([]string, len(c.Args))
	for i, a := range c.Args {
		p.Args[i] = expand(a, env)
	}
	return p, nil
}

// labelRef matches the downward API's path of one label.
var labelRef = regexp.MustCompile(`^metadata\.labels\['([^']+)'\]$`)

// envValue is the value the kubelet gives the variable e of container c in
// a pod with podLabels on node. The sources the chart must not use, and a
// label the pod lacks (the kubelet would give ""), are errors.
func envValue(e corev1.EnvVar, c corev1.Container, podLabels map[string]string, node Node) (string, error) {
	switch src := e.ValueFrom; {
	case src == nil:
		return e.Value, nil
	case src.FieldRef != nil && src.FieldRef.FieldPath == "status.hostIP":
		return node.HostIP, nil
	case src.FieldRef != nil && labelRef.MatchString(src.FieldRef.FieldPath):
		name := labelRef.FindStringSubmatch(src.FieldRef.FieldPath)[1]
		v, ok := podLabels[name]
		if !ok {
			return "", fmt.Errorf("the pod has no label %s", name)
		}
		return v, nil
	case src.ResourceFieldRef != nil && src.ResourceFieldRef.Resource == "limits.memory":
		if src.ResourceFieldRef.ContainerName != "" && src.ResourceFieldRef.ContainerName != c.Name {
			return "", fmt.Errorf("refers to container %s", src.ResourceFieldRef.ContainerName)
		}
		limit, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			// The kubelet would give the node's allocatable memory.
			return "", fmt.Errorf("the container has no memory limit")
		}
		divisor := int64(1)
		if !src.ResourceFieldRef.Divisor.IsZero() {
			divisor = src.ResourceFieldRef.Divisor.Value()
		}
		// The kubelet rounds up.
		return strconv.FormatInt((limit.Value()+divisor-1)/divisor, 10), nil
	}
	return "", fmt.Errorf("unexpected source %+v", e.ValueFrom)
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand replaces $(VAR) with VAR's value as the kubelet does for args; an
// undefined reference stays as written (so a typo shows in the argument).
func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := env[ref[2:len(ref)-1]]; ok {
			return v
		}
		return ref
	})
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
