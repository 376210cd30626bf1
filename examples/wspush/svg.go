package main

// The chart: for every server, RSS per idle WebSocket (left panel) and the
// broadcast delay p50 and p99 (right panel), as bars, drawn as plain SVG
// so that the module needs no plotting library.

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"runtime"
)

// chartColors are the bar colors, by server.
var chartColors = map[string]string{
	"stackslice": "#d62728",
	"nethttp":    "#1f77b4",
	"nbhttp":     "#2ca02c",
}

// bar is one bar of a panel.
type bar struct {
	label string // under the bar
	name  string // the server, for its color
	value float64
	text  string // above the bar
	light bool   // a lighter shade (p50 next to p99)
}

// writeSVGFile writes the chart for rep to path.
func writeSVGFile(path string, rep report) error {
	b := renderSVG(rep)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// renderSVG draws the chart.
func renderSVG(rep report) []byte {
	const width, height = 860, 420
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="20" y="24" font-size="15" font-weight="bold">WebSocket push server, N = %d idle connections</text>`+"\n", rep.N)
	fmt.Fprintf(&b, `<text x="20" y="42" fill="#555">examples/wspush, %s %s/%s, loopback, clients on the same 2 cores; lower is better</text>`+"\n",
		html.EscapeString(runtime.Version()), runtime.GOOS, runtime.GOARCH)

	var mem, lat []bar
	for i := range rep.Results {
		r := &rep.Results[i]
		if v := r.rssPerConn(); v != nil {
			mem = append(mem, bar{label: r.name, name: r.name, value: math.Max(*v, 0), text: legendBytes(*v)})
		}
		p50, p99 := r.delayQuantile(0.50), r.delayQuantile(0.99)
		if p50 != nil && p99 != nil {
			lat = append(lat,
				bar{label: "p50", name: r.name, value: *p50, text: fmt.Sprintf("%.1f", *p50), light: true},
				bar{label: "p99", name: r.name, value: *p99, text: fmt.Sprintf("%.1f", *p99)})
		}
	}
	panel(&b, 20, 70, 390, 300, "RSS per idle WebSocket (bytes)", mem, nil)
	panel(&b, 450, 70, 390, 300, "broadcast until the last client has it (ms)", lat, lat)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// panel draws bars in the box at (x, y) of size w x h; with legend, a
// legend of the servers under it.
func panel(b *bytes.Buffer, x, y, w, h int, title string, bars, legend []bar) {
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x, y, html.EscapeString(title))
	top, bottom := y+14, y+h-30
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", x, bottom, x+w, bottom)
	if len(bars) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d">no measurements</text>`+"\n", x+w/2-50, (top+bottom)/2)
		return
	}
	hi := 0.0
	for _, br := range bars {
		hi = math.Max(hi, br.value)
	}
	if hi <= 0 {
		hi = 1
	}
	slot := float64(w) / float64(len(bars))
	bw := math.Min(slot*0.7, 80)
	for i, br := range bars {
		bh := br.value / hi * float64(bottom-top-16)
		bx := float64(x) + slot*float64(i) + (slot-bw)/2
		opacity := 1.0
		if br.light {
			opacity = 0.5
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="%.1f"><title>%s %s: %s</title></rect>`+"\n",
			bx, float64(bottom)-bh, bw, bh, chartColors[br.name], opacity, html.EscapeString(br.name), html.EscapeString(br.label), html.EscapeString(br.text))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", bx+bw/2, float64(bottom)-bh-4, html.EscapeString(br.text))
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", bx+bw/2, bottom+16, html.EscapeString(br.label))
	}
	if legend != nil {
		seen := map[string]bool{}
		lx := x
		for _, br := range legend {
			if seen[br.name] {
				continue
			}
			seen[br.name] = true
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", lx, bottom+24, chartColors[br.name])
			fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", lx+16, bottom+34, html.EscapeString(br.name))
			lx += 110
		}
	}
}

// legendBytes formats v with three significant digits.
func legendBytes(v float64) string {
	if math.Abs(v) >= 1000 {
		return fmt.Sprintf("%.3g kB", v/1000)
	}
	return fmt.Sprintf("%.0f B", v)
}
