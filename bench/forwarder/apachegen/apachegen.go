// Package apachegen generates seeded Apache combined log lines for the
// forwarder benchmarks (about 206 bytes a line, like real access logs).
package apachegen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

var (
	methods = []string{"GET", "GET", "GET", "GET", "POST", "HEAD", "PUT"}
	paths   = []string{"/", "/index.html", "/presentations/logstash-monitorama-2013/images/kibana-search.png",
		"/blog/tags/puppet?flav=rss20", "/images/jordan-80.png", "/style2.css", "/reset.css",
		"/projects/xdotool/", "/articles/dynamic-dns-with-dhcp/", "/favicon.ico", "/api/v1/items/12345?page=2"}
	statuses = []int{200, 200, 200, 200, 200, 304, 301, 404, 500}
	refs     = []string{"-", "http://semicomplete.com/presentations/logstash-monitorama-2013/", "https://www.google.com/search?q=xdotool",
		"http://www.semicomplete.com/projects/xdotool/"}
	agents = []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"curl/8.5.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
	}
	users = []string{"-", "-", "-", "frank"}
)

// Write writes n lines generated from seed to w.
func Write(w io.Writer, n int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 1<<20)
	t := time.Date(2015, 5, 17, 10, 5, 3, 0, time.UTC)
	for i := 0; i < n; i++ {
		if rng.IntN(4) == 0 {
			t = t.Add(time.Duration(rng.IntN(3)) * time.Second)
		}
		size := "-"
		st := statuses[rng.IntN(len(statuses))]
		if st != 304 {
			size = fmt.Sprint(rng.IntN(250000))
		}
		_, err := fmt.Fprintf(bw, "%d.%d.%d.%d - %s [%s] \"%s %s HTTP/1.1\" %d %s \"%s\" \"%s\"\n",
			rng.IntN(223)+1, rng.IntN(256), rng.IntN(256), rng.IntN(254)+1, users[rng.IntN(len(users))],
			t.Format("02/Jan/2006:15:04:05 -0700"), methods[rng.IntN(len(methods))], paths[rng.IntN(len(paths))],
			st, size, refs[rng.IntN(len(refs))], agents[rng.IntN(len(agents))])
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}
