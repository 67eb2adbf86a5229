package config

import (
	"fmt"
	"reflect"
	"sort"
)

// reloadable are the keys SIGHUP applies to a running forwarder; a change
// to any other key needs a restart.
var reloadable = map[string]bool{
	"log.level": true,
	"log.file":  true,
}

// Reloadable reports whether a change of key can be applied by SIGHUP.
func Reloadable(key string) bool { return reloadable[key] }

// Changed lists the YAML paths of the keys whose values differ between a
// and b (after defaults), sorted. A list whose length differs is one
// change at the list's path.
func Changed(a, b Config) []string {
	var out []string
	diff(reflect.ValueOf(a), reflect.ValueOf(b), "", &out)
	sort.Strings(out)
	return out
}

func diff(a, b reflect.Value, path string, out *[]string) {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*out = append(*out, path)
			}
			return
		}
		diff(a.Elem(), b.Elem(), path, out)
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[struct{}]() {
			return
		}
		t := a.Type()
		for name, f := range yamlFields(t) {
			diff(a.FieldByIndex(f.Index), b.FieldByIndex(f.Index), join(path, name), out)
		}
	case reflect.Slice:
		if a.Len() != b.Len() || a.Type().Elem().Kind() != reflect.Struct {
			if !reflect.DeepEqual(a.Interface(), b.Interface()) {
				*out = append(*out, path)
			}
			return
		}
		for i := range a.Len() {
			diff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	}
}

// Reload compares the running configuration with next (a validated file)
// and splits the changed keys into those SIGHUP applies and those that need
// a restart. A reload applies nothing unless restart is empty.
func Reload(running, next Config) (apply, restart []string) {
	for _, k := range Changed(running, next) {
		if Reloadable(k) {
			apply = append(apply, k)
		} else {
			restart = append(restart, k)
		}
	}
	return apply, restart
}
