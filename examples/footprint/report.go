package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// report is every variant measured at one N.
type report struct {
	N       int
	Results []result
}

// jsonReport is the -json output for one N.
type jsonReport struct {
	N       int          `json:"n"`
	Servers []jsonServer `json:"servers"`
}

// jsonServer is one variant in jsonReport; figures are bytes, null when the
// variant could not be measured.
type jsonServer struct {
	Name            string `json:"name"`
	RSSPerConn      *int64 `json:"rss_per_conn"`
	HeapPerConn     *int64 `json:"heap_per_conn"`
	RSSFreshPerConn *int64 `json:"rss_fresh_per_conn"`
	KernelPerConn   *int64 `json:"kernel_per_conn"`
	WakeOK          bool   `json:"wake_ok"`
}

func roundPtr(v *float64) *int64 {
	if v == nil {
		return nil
	}
	r := int64(math.Round(*v))
	return &r
}

func (rep report) jsonReport() jsonReport {
	j := jsonReport{N: rep.N, Servers: []jsonServer{}}
	for i := range rep.Results {
		r := &rep.Results[i]
		j.Servers = append(j.Servers, jsonServer{
			Name:            r.name,
			RSSPerConn:      roundPtr(r.rssPerConn()),
			HeapPerConn:     roundPtr(r.heapPerConn()),
			RSSFreshPerConn: roundPtr(r.rssFreshPerConn()),
			KernelPerConn:   roundPtr(r.kernelPerConn()),
			WakeOK:          r.wakeOK(),
		})
	}
	return j
}

// writeTable prints rep as a table.
func writeTable(w io.Writer, rep report) {
	rss := map[string]*float64{}
	for i := range rep.Results {
		rss[rep.Results[i].name] = rep.Results[i].rssPerConn()
	}
	fmt.Fprintf(w, "\nN = %d connections per server; bytes per connection\n", rep.N)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "variant\tlive\tRSS idle\tx std\theap+stack\tRSS fresh\tkernel/socket\twake_ok\t\n")
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\tfalse\t  %s\n", r.name, r.err)
			continue
		}
		ratio := "-"
		if v, std := r.rssPerConn(), rss[baseline(r.name)]; v != nil && std != nil && *std > 0 {
			ratio = fmt.Sprintf("%.2f", *v / *std)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%v\t\n", r.name, r.exchanged,
			bytesStr(r.rssPerConn()), ratio, bytesStr(r.heapPerConn()),
			bytesStr(r.rssFreshPerConn()), bytesStr(r.kernelPerConn()), r.wakeOK())
	}
	tw.Flush()
}

// writeNotes explains the table's columns.
func writeNotes(w io.Writer) {
	fmt.Fprintf(w, "\nRSS idle: VmRSS growth / live connections, idle after one echoed message or GET (the headline)\n")
	fmt.Fprintf(w, "x std: RSS idle / the standard library's (net's for echo, nethttp's for HTTP) in the same run\n")
	fmt.Fprintf(w, "heap+stack: Go HeapInuse+StackInuse growth / live; RSS fresh: VmRSS growth right after connecting\n")
	fmt.Fprintf(w, "kernel/socket: /proc/meminfo Slab growth / (2 x live), both ends being on this host\n")
}

func bytesStr(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", *v)
}
