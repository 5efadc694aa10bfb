package drill

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"firedrill/drill/bundle"
)

// maxLogLine bounds one log line (a claim line lists a whole batch's ids).
const maxLogLine = 16 << 20

// scanLines calls fn with every line of path; fn must not keep the slice.
func scanLines(path string, fn func(line []byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), maxLogLine)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// componentLogs reads every JSON line the run's components logged
// (_logs/*.ndjson but the proxy's forward log), file by file in name order.
// A bundle without any component log is an error.
func componentLogs(b bundle.Bundle) ([][]byte, error) {
	files, err := filepath.Glob(b.Path(bundle.LogsDir, "*.ndjson"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var lines [][]byte
	read := 0
	for _, f := range files {
		if filepath.Base(f) == ForwardLogFile {
			continue
		}
		err := scanLines(f, func(l []byte) {
			if l = bytes.TrimSpace(l); len(l) > 0 && l[0] == '{' {
				lines = append(lines, bytes.Clone(l))
			}
		})
		if err != nil {
			return nil, err
		}
		read++
	}
	if read == 0 {
		return nil, errors.New("no component logs in the bundle")
	}
	return lines, nil
}
