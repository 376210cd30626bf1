module github.com/stackslice/stackslice

go 1.26
