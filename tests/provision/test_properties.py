"""Invariants of the pieces idempotency rests on, checked with hypothesis."""

from __future__ import annotations

import io
import ipaddress
import zipfile

from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.provision import config
from toolkit.provision.config import ConfigError
from toolkit.provision.engine import canonical_json
from toolkit.provision.lambda_zips import zip_bytes
from toolkit.provision.network import Rule, rule_from_aws

names = st.from_regex(r"[a-z_]{1,8}(/[a-z_]{1,8}){0,2}\.(py|json)", fullmatch=True)


@given(st.dictionaries(names, st.binary(max_size=200), min_size=1, max_size=12), st.randoms())
@settings(max_examples=50, deadline=None)
def test_zip_bytes_depend_only_on_the_members(members, rnd):
    shuffled = list(members.items())
    rnd.shuffle(shuffled)
    data = zip_bytes(members)
    assert zip_bytes(dict(shuffled)) == data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == members


strings = st.text(alphabet="abcdefgh:*/", min_size=1, max_size=6)
documents = st.recursive(
    st.one_of(strings, st.booleans(), st.integers(-5, 5), st.lists(strings, min_size=1, max_size=4)),
    lambda inner: st.dictionaries(st.text(alphabet="ABCDE", min_size=1, max_size=3), inner, max_size=4),
    max_leaves=12,
)


def _permute(value, rnd):
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _permute(v, rnd) for k, v in items}
    if isinstance(value, list):
        items = [_permute(v, rnd) for v in value]
        if all(isinstance(i, str) for i in items):
            rnd.shuffle(items)
        return items
    return value


@given(documents, st.randoms())
@settings(max_examples=100, deadline=None)
def test_policy_comparison_ignores_key_order_and_string_list_order(statement, rnd):
    document = {"Version": "2012-10-17", "Statement": statement}  # a string would be read as JSON text
    assert canonical_json(_permute(document, rnd)) == canonical_json(document)


@given(st.lists(strings, min_size=1, max_size=1))
def test_a_one_element_list_equals_the_bare_string_as_aws_returns_it(single):
    assert canonical_json({"Action": single}) == canonical_json({"Action": single[0]})


rules = st.builds(
    lambda egress, tcp, port, kind, n: Rule(egress, "tcp" if tcp else "-1", port if tcp else -1,
                                            port if tcp else -1, kind,
                                            {"cidr": f"10.{n}.0.0/16", "group": f"sg-{n:08x}",
                                             "prefix-list": f"pl-{n:08x}"}[kind]),
    st.booleans(), st.booleans(), st.integers(0, 65535), st.sampled_from(["cidr", "group", "prefix-list"]),
    st.integers(0, 255))


@given(rules)
def test_a_rule_survives_the_round_trip_through_aws_shapes(rule):
    permission = rule.permission()
    aws = {"IsEgress": rule.egress, "IpProtocol": permission["IpProtocol"],
           "FromPort": permission.get("FromPort", -1), "ToPort": permission.get("ToPort", -1)}
    if rule.target_kind == "cidr":
        aws["CidrIpv4"] = permission["IpRanges"][0]["CidrIp"]
    elif rule.target_kind == "group":
        aws["ReferencedGroupInfo"] = {"GroupId": permission["UserIdGroupPairs"][0]["GroupId"]}
    else:
        aws["PrefixListId"] = permission["PrefixListIds"][0]["PrefixListId"]
    assert rule_from_aws(aws) == rule


@given(st.lists(st.ip_addresses(v=4).map(str) | st.text(max_size=12), max_size=3),
       st.sampled_from(["network.vpc_cidr", "access.admin_cidrs", "access.oltp_client_cidrs"]))
@settings(max_examples=100, deadline=None)
def test_any_cidr_input_is_accepted_or_refused_with_the_field_named(values, field):
    section, key = field.split(".")
    raw = {"project": "shop", "environment": "dev", "region": "eu-west-1",
           section: {key: values[0] if key == "vpc_cidr" and values else values}}
    try:
        cfg = config.parse(raw)
    except ConfigError as exc:
        assert exc.field_path.startswith(field) or exc.field_path.startswith("network.")
        return
    for cidr in getattr(getattr(cfg, section), key) if key != "vpc_cidr" else [cfg.network.vpc_cidr]:
        ipaddress.IPv4Network(cidr, strict=True)
