package packaging

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Unit is a parsed systemd unit file: section -> key -> values, in file
// order (a key may be given several times, as EnvironmentFile= is).
type Unit map[string]map[string][]string

// ParseUnit reads a systemd unit file: [Section] headers, Key=Value lines,
// '#' and ';' comments, and lines continued with a trailing backslash.
func ParseUnit(data []byte) (Unit, error) {
	u := Unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	var cont strings.Builder
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cont.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		if cont.Len() > 0 {
			line = cont.String() + line
			cont.Reset()
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("unit line %d: malformed section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("unit line %d: %q is not Key=Value", n, line)
		}
		if section == "" {
			return nil, fmt.Errorf("unit line %d: %q is outside a section", n, line)
		}
		key = strings.TrimSpace(key)
		u[section][key] = append(u[section][key], strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read unit: %w", err)
	}
	if cont.Len() > 0 {
		return nil, fmt.Errorf("unit: file ends in a continued line")
	}
	return u, nil
}

// Get returns the last value of section.key (systemd's rule for
// single-valued settings) and whether it is set.
func (u Unit) Get(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}
