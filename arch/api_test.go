package arch

import (
	"go/ast"
	gobuild "go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exportedAPI returns the exported names the ordinary linux/goarch build
// (no build tags) of the package in the current directory declares:
// top-level names, methods as Type.Method and struct fields as Type.Field.
func exportedAPI(t *testing.T, goarch string) []string {
	t.Helper()
	ctx := gobuild.Default // the engine's build, whatever the host
	ctx.GOOS, ctx.GOARCH, ctx.BuildTags = "linux", goarch, nil
	pkg, err := ctx.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(pkg.Dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					names = append(names, d.Name.Name)
					continue
				}
				typ := d.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				names = append(names, typ.(*ast.Ident).Name+"."+d.Name.Name)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names = append(names, n.Name)
							}
						}
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						names = append(names, s.Name.Name)
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, fld := range st.Fields.List {
								for _, n := range fld.Names {
									if n.IsExported() {
										names = append(names, s.Name.Name+"."+n.Name)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// TestExportedAPI keeps the package's exported names to what package slice
// uses (the package carries no compatibility promise, and every exported
// name is one more way for an importer to reach into the engine): a new one
// must be needed by slice and added here on purpose.
func TestExportedAPI(t *testing.T) {
	want := []string{
		"Context", "Context.BPChain", "Context.BPOff", "Context.Fn", "Context.Len",
		"Context.NReloc", "Context.PC", "Context.Relocs", "Context.Src",
		"Context.Wide", "Context.Zero", "FramePointer", "G", "GCurrent", "SwitchIn", "SwitchOut", "SwitchOutReturn",
	}
	for _, goarch := range []string{"amd64", "arm64"} {
		if got := exportedAPI(t, goarch); !slices.Equal(got, want) {
			t.Errorf("exported names of the ordinary %s build:\n  %s\nwant:\n  %s", goarch, strings.Join(got, " "), strings.Join(want, " "))
		}
	}
}
