package terraform_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// sdkServicePrefix is the import path prefix of aws-sdk-go-v2 service clients.
const sdkServicePrefix = "github.com/aws/aws-sdk-go-v2/service/"

// iamPrefix maps an SDK service package name to its IAM action prefix where
// they differ.
var iamPrefix = map[string]string{
	"eventbridge":    "events",
	"cloudwatchlogs": "logs",
}

// iamActions maps (service, operation) to the IAM actions it needs where
// these are not simply "<service>:<operation>".
var iamActions = map[string][]string{
	"s3:ListObjectsV2":                {"s3:ListBucket"},
	"s3:ListObjects":                  {"s3:ListBucket"},
	"s3:HeadBucket":                   {"s3:ListBucket"},
	"s3:HeadObject":                   {"s3:GetObject"},
	"s3:GetObjectAttributes":          {"s3:GetObject"},
	"s3:CopyObject":                   {"s3:GetObject", "s3:PutObject"},
	"s3:DeleteObjects":                {"s3:DeleteObject"},
	"s3:CreateMultipartUpload":        {"s3:PutObject"},
	"s3:UploadPart":                   {"s3:PutObject"},
	"s3:CompleteMultipartUpload":      {"s3:PutObject"},
	"s3:ListMultipartUploads":         {"s3:ListBucketMultipartUploads"},
	"s3:ListParts":                    {"s3:ListMultipartUploadParts"},
	"lambda:Invoke":                   {"lambda:InvokeFunction"},
	"lambda:InvokeAsync":              {"lambda:InvokeFunction"},
	"lambda:InvokeWithResponseStream": {"lambda:InvokeFunction"},
	"kinesis:PutRecord":               {"kinesis:PutRecord"},
}

// goPackage is one Go package: its import path and directory.
type goPackage struct {
	ImportPath string
	Dir        string
}

// moduleDeps lists the packages of this module that pkg depends on (itself
// included), via `go list -deps`.
func moduleDeps(root, pkg, modPath string) ([]goPackage, error) {
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Dir", pkg)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("go list -deps %s: %w\n%s", pkg, err, ee.Stderr)
		}
		return nil, fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		if p.ImportPath == modPath || strings.HasPrefix(p.ImportPath, modPath+"/") {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, nil
}

// parsedPkg is the non-test files of one package.
type parsedPkg struct {
	path  string
	files []*ast.File
}

// sdkCalls finds, in pkgs, every compile-time check of the form
// `var _ X = (*svc.Client)(nil)` with svc an aws-sdk-go-v2 service, and
// returns the IAM actions needed by the methods of interface X (embedded
// interfaces followed, also across the given packages).
func sdkCalls(pkgs []goPackage) ([]string, error) {
	fset := token.NewFileSet()
	byPath := map[string]*parsedPkg{}
	for _, p := range pkgs {
		files, err := filepath.Glob(filepath.Join(p.Dir, "*.go"))
		if err != nil {
			return nil, err
		}
		pp := &parsedPkg{path: p.ImportPath}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", f, err)
			}
			pp.files = append(pp.files, af)
		}
		byPath[p.ImportPath] = pp
	}
	actions := map[string]bool{}
	for _, pp := range byPath {
		for _, f := range pp.files {
			imports := fileImports(f)
			for _, c := range directCalls(f, imports) {
				for _, a := range iamActionsFor(c[0], c[1]) {
					actions[a] = true
				}
			}
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					if len(vs.Names) != 1 || vs.Names[0].Name != "_" || vs.Type == nil || len(vs.Values) != 1 {
						continue
					}
					svc, ok := sdkClientOf(vs.Values[0], imports)
					if !ok {
						continue
					}
					methods, err := interfaceMethods(byPath, pp, imports, vs.Type, 0)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", fset.Position(vs.Pos()), err)
					}
					for _, m := range methods {
						for _, a := range iamActionsFor(svc, m) {
							actions[a] = true
						}
					}
				}
			}
		}
	}
	out := make([]string, 0, len(actions))
	for a := range actions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out, nil
}

// iamActionsFor maps an SDK service package and operation to IAM actions.
func iamActionsFor(svc, op string) []string {
	prefix := svc
	if p, ok := iamPrefix[svc]; ok {
		prefix = p
	}
	if a, ok := iamActions[prefix+":"+op]; ok {
		return a
	}
	return []string{prefix + ":" + op}
}

// fileImports maps a file's import names to import paths.
func fileImports(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, is := range f.Imports {
		p, err := strconv.Unquote(is.Path.Value)
		if err != nil {
			continue
		}
		name := filepath.Base(p)
		if is.Name != nil {
			name = is.Name.Name
		}
		m[name] = p
	}
	return m
}

// sdkClientOf recognises `(*svc.Client)(nil)` and returns svc's package name.
func sdkClientOf(e ast.Expr, imports map[string]string) (string, bool) {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return "", false
	}
	if id, ok := call.Args[0].(*ast.Ident); !ok || id.Name != "nil" {
		return "", false
	}
	par, ok := call.Fun.(*ast.ParenExpr)
	if !ok {
		return "", false
	}
	star, ok := par.X.(*ast.StarExpr)
	if !ok {
		return "", false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Client" {
		return "", false
	}
	pkgID, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", false
	}
	path, ok := imports[pkgID.Name]
	if !ok || !strings.HasPrefix(path, sdkServicePrefix) {
		return "", false
	}
	return strings.TrimPrefix(path, sdkServicePrefix), true
}

// interfaceMethods returns the method names of the interface type named by
// typ (an identifier in pp or a selector into another known package).
func interfaceMethods(byPath map[string]*parsedPkg, pp *parsedPkg, imports map[string]string, typ ast.Expr, depth int) ([]string, error) {
	if depth > 10 {
		return nil, fmt.Errorf("interface embedding too deep")
	}
	var name string
	switch t := typ.(type) {
	case *ast.Ident:
		name = t.Name
	case *ast.SelectorExpr:
		id, ok := t.X.(*ast.Ident)
		if !ok {
			return nil, fmt.Errorf("unsupported type expression %T", t.X)
		}
		path, ok := imports[id.Name]
		if !ok {
			return nil, fmt.Errorf("unknown package %s", id.Name)
		}
		other, ok := byPath[path]
		if !ok {
			return nil, fmt.Errorf("package %s is outside the analysed packages", path)
		}
		pp, name = other, t.Sel.Name
	default:
		return nil, fmt.Errorf("unsupported type expression %T", typ)
	}
	for _, f := range pp.files {
		fimports := fileImports(f)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				if ts.Name.Name != name {
					continue
				}
				it, ok := ts.Type.(*ast.InterfaceType)
				if !ok {
					return nil, fmt.Errorf("%s.%s is not an interface", pp.path, name)
				}
				var methods []string
				for _, fld := range it.Methods.List {
					if len(fld.Names) > 0 {
						for _, n := range fld.Names {
							methods = append(methods, n.Name)
						}
						continue
					}
					emb, err := interfaceMethods(byPath, pp, fimports, fld.Type, depth+1)
					if err != nil {
						return nil, err
					}
					methods = append(methods, emb...)
				}
				return methods, nil
			}
		}
	}
	return nil, fmt.Errorf("interface %s.%s not found", pp.path, name)
}

// directCalls finds SDK operations called on a client without an interface:
// `svc.NewFromConfig(cfg).Op(...)`, or `x.Op(...)` where x was assigned
// `svc.NewFromConfig(...)` / `svc.New(...)` in the same file. It returns
// (service, operation) pairs.
func directCalls(f *ast.File, imports map[string]string) [][2]string {
	clientSvc := func(e ast.Expr) (string, bool) {
		call, ok := e.(*ast.CallExpr)
		if !ok {
			return "", false
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "NewFromConfig" && sel.Sel.Name != "New") {
			return "", false
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return "", false
		}
		path, ok := imports[id.Name]
		if !ok || !strings.HasPrefix(path, sdkServicePrefix) {
			return "", false
		}
		return strings.TrimPrefix(path, sdkServicePrefix), true
	}
	vars := map[string]string{} // identifier -> service
	ast.Inspect(f, func(n ast.Node) bool {
		switch a := n.(type) {
		case *ast.AssignStmt:
			for i, rhs := range a.Rhs {
				if svc, ok := clientSvc(rhs); ok && i < len(a.Lhs) {
					if id, ok := a.Lhs[i].(*ast.Ident); ok {
						vars[id.Name] = svc
					}
				}
			}
		case *ast.ValueSpec:
			for i, v := range a.Values {
				if svc, ok := clientSvc(v); ok && i < len(a.Names) {
					vars[a.Names[i].Name] = svc
				}
			}
		}
		return true
	})
	var out [][2]string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !ast.IsExported(sel.Sel.Name) || sel.Sel.Name == "Options" {
			return true
		}
		svc, ok := clientSvc(sel.X)
		if !ok {
			if id, isID := sel.X.(*ast.Ident); isID {
				svc, ok = vars[id.Name]
			}
		}
		if ok {
			out = append(out, [2]string{svc, sel.Sel.Name})
		}
		return true
	})
	return out
}
