"""VPC, subnets, route tables, internet gateway, VPC endpoints and security groups."""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

from toolkit.provision.engine import Ctx, canonical_json
from toolkit.provision.policies import s3_endpoint_policy, ssm_agent_buckets

SSM_ENDPOINT_SERVICES = ("ssm", "ssmmessages", "ec2messages")


def _find(ctx: Ctx, operation: str, key: str, name: str, *filters: dict[str, Any]) -> list[dict[str, Any]]:
    response = ctx.call("ec2", operation, Filters=[*ctx.ownership_filters(), {"Name": "tag:Name", "Values": [name]},
                                                   *filters])
    return response[key]


def _vpc_filter(ctx: Ctx) -> dict[str, Any]:
    return {"Name": "vpc-id", "Values": [ctx.state["vpc_id"]]}


def vpc(ctx: Ctx) -> None:
    cfg, name = ctx.cfg.network, ctx.names.vpc
    found = _find(ctx, "describe_vpcs", "Vpcs", name, {"Name": "state", "Values": ["pending", "available"]})
    if found:
        vpc_id = found[0]["VpcId"]
        if found[0]["CidrBlock"] != cfg.vpc_cidr:
            raise RuntimeError(f"{name} ({vpc_id}) has CIDR {found[0]['CidrBlock']}, the configuration says "
                               f"{cfg.vpc_cidr}; a VPC's CIDR cannot change: destroy first")
        ctx.state["vpc_id"] = vpc_id
        ctx.keep()
    else:
        ctx.record("create", "ec2 vpc", name, cfg.vpc_cidr)
        if ctx.plan_only:
            ctx.state["vpc_id"] = ctx.pending("vpc")
            return
        vpc_id = ctx.call("ec2", "create_vpc", CidrBlock=cfg.vpc_cidr,
                          TagSpecifications=ctx.ec2_tags("vpc", name))["Vpc"]["VpcId"]
        ctx.clients("ec2").get_waiter("vpc_available").wait(VpcIds=[vpc_id], WaiterConfig={"Delay": 2})
        ctx.state["vpc_id"] = vpc_id
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        key = attribute[0].upper() + attribute[1:]
        current = ctx.call("ec2", "describe_vpc_attribute", VpcId=vpc_id, Attribute=attribute)[key]["Value"]
        if not current:
            if found:
                ctx.record("update", "ec2 vpc", name, f"{attribute}=true")
            if not ctx.plan_only:
                ctx.call("ec2", "modify_vpc_attribute", VpcId=vpc_id, **{key: {"Value": True}})


def internet_gateway(ctx: Ctx) -> None:
    name = ctx.names.igw
    found = _find(ctx, "describe_internet_gateways", "InternetGateways", name)
    vpc_id = ctx.state["vpc_id"]
    if found:
        igw_id = found[0]["InternetGatewayId"]
        attached = {a["VpcId"] for a in found[0].get("Attachments", [])}
        ctx.state["igw_id"] = igw_id
        if vpc_id in attached:
            ctx.keep()
            return
        ctx.record("update", "ec2 internet-gateway", name, f"attach to {vpc_id}")
    else:
        ctx.record("create", "ec2 internet-gateway", name)
        if ctx.plan_only:
            ctx.state["igw_id"] = ctx.pending("internet-gateway")
            return
        igw_id = ctx.call("ec2", "create_internet_gateway",
                          TagSpecifications=ctx.ec2_tags("internet-gateway", name))["InternetGateway"][
                              "InternetGatewayId"]
        ctx.state["igw_id"] = igw_id
    if not ctx.plan_only:
        ctx.call("ec2", "attach_internet_gateway", InternetGatewayId=igw_id, VpcId=vpc_id)


def _subnet(ctx: Ctx, key: str, name: str, cidr: str, tier: str) -> None:
    if not ctx.known(ctx.state["vpc_id"]):
        ctx.record("create", "ec2 subnet", name, cidr)
        ctx.state[key] = ctx.pending("subnet")
        return
    found = _find(ctx, "describe_subnets", "Subnets", name, _vpc_filter(ctx))
    if found:
        if found[0]["CidrBlock"] != cidr:
            raise RuntimeError(f"{name} has CIDR {found[0]['CidrBlock']}, the configuration says {cidr}: destroy first")
        ctx.state[key] = found[0]["SubnetId"]
        ctx.keep()
        return
    ctx.record("create", "ec2 subnet", name, cidr)
    if ctx.plan_only:
        ctx.state[key] = ctx.pending("subnet")
        return
    ctx.state[key] = ctx.call(
        "ec2", "create_subnet", VpcId=ctx.state["vpc_id"], CidrBlock=cidr, AvailabilityZone=ctx.cfg.az,
        TagSpecifications=ctx.ec2_tags("subnet", name, Tier=tier),
    )["Subnet"]["SubnetId"]


def subnets(ctx: Ctx) -> None:
    n, net = ctx.names, ctx.cfg.network
    _subnet(ctx, "public_subnet_id", n.public_subnet, net.public_subnet_cidr, "public")
    _subnet(ctx, "private_subnet_1_id", n.private_subnet_1, net.private_subnet_1_cidr, "private")
    _subnet(ctx, "private_subnet_2_id", n.private_subnet_2, net.private_subnet_2_cidr, "private")


def _route_table(ctx: Ctx, key: str, name: str, subnet_key: str, internet: bool) -> None:
    subnet_id = ctx.state[subnet_key]
    table: dict[str, Any] | None = None
    if ctx.known(ctx.state["vpc_id"]):
        found = _find(ctx, "describe_route_tables", "RouteTables", name, _vpc_filter(ctx))
        table = found[0] if found else None
    created = table is None
    if created:
        ctx.record("create", "ec2 route-table", name, "0.0.0.0/0 → internet gateway" if internet else "local only")
        if ctx.plan_only:
            ctx.state[key] = ctx.pending("route-table")
            return
        table = ctx.call("ec2", "create_route_table", VpcId=ctx.state["vpc_id"],
                         ClientToken=ctx.client_token(name, ctx.state["vpc_id"]),
                         TagSpecifications=ctx.ec2_tags("route-table", name))["RouteTable"]
    else:
        ctx.keep()
    assert table is not None

    def change(detail: str) -> None:
        if not created:  # the association and routes of a new table are part of its creation
            ctx.record("update", "ec2 route-table", name, detail)

    table_id = ctx.state[key] = table["RouteTableId"]
    if subnet_id not in {a.get("SubnetId") for a in table.get("Associations", [])}:
        change(f"associate {subnet_id}")
        if not ctx.plan_only:
            ctx.call("ec2", "associate_route_table", RouteTableId=table_id, SubnetId=subnet_id)
    default_routes = [r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    if internet:
        igw_id = ctx.state["igw_id"]
        if not any(r.get("GatewayId") == igw_id for r in default_routes):
            change("0.0.0.0/0 → internet gateway")
            if not ctx.plan_only:
                operation = "replace_route" if default_routes else "create_route"
                ctx.call("ec2", operation, RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    elif default_routes:
        # A private table must never reach the internet; someone added a route by hand.
        change("remove 0.0.0.0/0")
        if not ctx.plan_only:
            ctx.call("ec2", "delete_route", RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0")


def route_tables(ctx: Ctx) -> None:
    n = ctx.names
    _route_table(ctx, "public_rt_id", n.public_rt, "public_subnet_id", internet=True)
    _route_table(ctx, "private_rt_1_id", n.private_rt_1, "private_subnet_1_id", internet=False)
    _route_table(ctx, "private_rt_2_id", n.private_rt_2, "private_subnet_2_id", internet=False)


def s3_gateway_endpoint(ctx: Ctx) -> None:
    name, region = ctx.names.s3_endpoint, ctx.region
    service = f"com.amazonaws.{region}.s3"
    read_only = ssm_agent_buckets(region) if ctx.cfg.network.ssm_interface_endpoints else []
    policy = s3_endpoint_policy(ctx.names.bucket, list(ctx.cfg.storage.extra_endpoint_buckets), read_only,
                                ctx.clients.partition, transfer_bucket=ctx.names.ssm_transfer_bucket)
    tables = {ctx.state["private_rt_1_id"], ctx.state["private_rt_2_id"]}
    existing = None
    if ctx.known(ctx.state["vpc_id"]):
        found = _find(ctx, "describe_vpc_endpoints", "VpcEndpoints", name, _vpc_filter(ctx),
                      {"Name": "service-name", "Values": [service]},
                      {"Name": "vpc-endpoint-state", "Values": ["pending", "available"]})
        existing = found[0] if found else None
    if existing is None:
        ctx.record("create", "ec2 vpc-endpoint", name, "S3 gateway on both private route tables")
        if ctx.plan_only:
            ctx.state["s3_endpoint_id"] = ctx.pending("vpc-endpoint")
            return
        ctx.state["s3_endpoint_id"] = ctx.call(
            "ec2", "create_vpc_endpoint", VpcEndpointType="Gateway", VpcId=ctx.state["vpc_id"], ServiceName=service,
            RouteTableIds=sorted(tables), PolicyDocument=canonical_json(policy),
            TagSpecifications=ctx.ec2_tags("vpc-endpoint", name),
            ClientToken=ctx.client_token(name, ctx.state["vpc_id"]),
        )["VpcEndpoint"]["VpcEndpointId"]
        return
    endpoint_id = ctx.state["s3_endpoint_id"] = existing["VpcEndpointId"]
    current_tables = set(existing.get("RouteTableIds", []))
    modify: dict[str, Any] = {}
    if current_tables != tables:
        modify["AddRouteTableIds"] = sorted(tables - current_tables)
        modify["RemoveRouteTableIds"] = sorted(current_tables - tables)
    if canonical_json(existing.get("PolicyDocument") or "{}") != canonical_json(policy):
        modify["PolicyDocument"] = canonical_json(policy)
    if not modify:
        ctx.keep()
        return
    ctx.reconcile("update", "ec2 vpc-endpoint", name, ", ".join(sorted(modify)),
                  apply=lambda: ctx.call("ec2", "modify_vpc_endpoint", VpcEndpointId=endpoint_id,
                                         **{k: v for k, v in modify.items() if v}))


def ssm_interface_endpoints(ctx: Ctx) -> None:
    """Session Manager to the private host without a NAT: ssm, ssmmessages, ec2messages.

    The `ssm` endpoint stays whatever the setting: the ETL Lambda reads its warehouse password
    and CA certificate through it, and the private subnets have no other way to SSM.
    """
    for short in SSM_ENDPOINT_SERVICES:
        wanted = ctx.cfg.network.ssm_interface_endpoints or short == "ssm"
        name = f"{ctx.names.prefix}-{short}-endpoint"
        service = f"com.amazonaws.{ctx.region}.{short}"
        found = []
        if ctx.known(ctx.state["vpc_id"]):
            found = _find(ctx, "describe_vpc_endpoints", "VpcEndpoints", name, _vpc_filter(ctx),
                          {"Name": "service-name", "Values": [service]},
                          {"Name": "vpc-endpoint-state", "Values": ["pending", "available"]})
        if found and not wanted:
            ctx.reconcile("delete", "ec2 vpc-endpoint", name, "network.ssm_interface_endpoints is false",
                          apply=partial(ctx.call, "ec2", "delete_vpc_endpoints",
                                        VpcEndpointIds=[found[0]["VpcEndpointId"]]))
        elif found:
            ctx.state[f"{short}_endpoint_id"] = found[0]["VpcEndpointId"]
            ctx.keep()
        elif wanted:
            ctx.record("create", "ec2 vpc-endpoint", name, "interface, private DNS")
            if not ctx.plan_only:
                ctx.state[f"{short}_endpoint_id"] = ctx.call(
                    "ec2", "create_vpc_endpoint", VpcEndpointType="Interface", VpcId=ctx.state["vpc_id"],
                    ServiceName=service, SubnetIds=[ctx.state["private_subnet_1_id"]],
                    SecurityGroupIds=[ctx.state["sg_endpoints_id"]], PrivateDnsEnabled=True,
                    TagSpecifications=ctx.ec2_tags("vpc-endpoint", name),
                    ClientToken=ctx.client_token(name, ctx.state["vpc_id"]))["VpcEndpoint"]["VpcEndpointId"]


# --- security groups ---------------------------------------------------------------------


class Rule(NamedTuple):
    egress: bool
    protocol: str
    from_port: int
    to_port: int
    target_kind: str  # cidr | group | prefix-list
    target: str

    def permission(self) -> dict[str, Any]:
        permission: dict[str, Any] = {"IpProtocol": self.protocol}
        if self.protocol != "-1":
            permission.update(FromPort=self.from_port, ToPort=self.to_port)
        if self.target_kind == "cidr":
            permission["IpRanges"] = [{"CidrIp": self.target}]
        elif self.target_kind == "group":
            permission["UserIdGroupPairs"] = [{"GroupId": self.target}]
        else:
            permission["PrefixListIds"] = [{"PrefixListId": self.target}]
        return permission

    def text(self, names: dict[str, str]) -> str:
        direction = "egress to" if self.egress else "ingress from"
        ports = "all" if self.protocol == "-1" else f"{self.protocol}/{self.from_port}" + (
            f"-{self.to_port}" if self.to_port != self.from_port else "")
        return f"{ports} {direction} {names.get(self.target, self.target)}"


def rule_from_aws(rule: dict[str, Any]) -> Rule:
    if rule.get("CidrIpv4"):
        kind, target = "cidr", rule["CidrIpv4"]
    elif rule.get("CidrIpv6"):
        kind, target = "cidr", rule["CidrIpv6"]
    elif rule.get("ReferencedGroupInfo"):
        kind, target = "group", rule["ReferencedGroupInfo"]["GroupId"]
    else:
        kind, target = "prefix-list", rule.get("PrefixListId", "")
    return Rule(bool(rule["IsEgress"]), str(rule["IpProtocol"]), int(rule.get("FromPort", -1)),
                int(rule.get("ToPort", -1)), kind, target)


SECURITY_GROUPS = (
    ("sg_oltp_id", "sg_oltp", "OLTP PostgreSQL: storefront clients on 5432, admins on 22 when enabled"),
    ("sg_dw_id", "sg_dw", "DW PostgreSQL: 5432 from the ETL Lambda and Shiny only"),
    ("sg_shiny_id", "sg_shiny", "R Shiny: no ingress, reached through SSM port forwarding"),
    ("sg_etl_id", "sg_etl", "ETL Lambda: no ingress; S3 through the gateway endpoint and DW 5432"),
    ("sg_endpoints_id", "sg_endpoints", "SSM interface endpoints: 443 from the VPC"),
)

ALL_EGRESS = Rule(True, "-1", -1, -1, "cidr", "0.0.0.0/0")


def desired_rules(ctx: Ctx) -> dict[str, set[Rule]]:
    s, access = ctx.state, ctx.cfg.access
    oltp = {Rule(False, "tcp", 5432, 5432, "cidr", c) for c in access.oltp_client_cidrs}
    if access.oltp_ssh:
        oltp |= {Rule(False, "tcp", 22, 22, "cidr", c) for c in access.admin_cidrs}
    return {
        "sg_oltp_id": oltp | {ALL_EGRESS},
        "sg_dw_id": {Rule(False, "tcp", 5432, 5432, "group", s["sg_etl_id"]),
                     Rule(False, "tcp", 5432, 5432, "group", s["sg_shiny_id"]), ALL_EGRESS},
        "sg_shiny_id": {Rule(True, "tcp", 5432, 5432, "group", s["sg_dw_id"])},
        # S3 through the gateway endpoint; SSM (the warehouse password and CA) through the
        # interface endpoints, whose private DNS answers for ssm.<region>.amazonaws.com.
        "sg_etl_id": {Rule(True, "tcp", 443, 443, "prefix-list", s["s3_prefix_list_id"]),
                      Rule(True, "tcp", 443, 443, "group", s["sg_endpoints_id"]),
                      Rule(True, "tcp", 5432, 5432, "group", s["sg_dw_id"])},
        "sg_endpoints_id": {Rule(False, "tcp", 443, 443, "cidr", ctx.cfg.network.vpc_cidr)},
    }


def security_groups(ctx: Ctx) -> None:
    prefix_lists = ctx.call("ec2", "describe_managed_prefix_lists", Filters=[
        {"Name": "prefix-list-name", "Values": [f"com.amazonaws.{ctx.region}.s3"]}])["PrefixLists"]
    if not prefix_lists:
        raise RuntimeError(f"no S3 prefix list in {ctx.region}")
    ctx.state["s3_prefix_list_id"] = prefix_lists[0]["PrefixListId"]
    created: set[str] = set()
    for key, name_attr, description in SECURITY_GROUPS:
        name = getattr(ctx.names, name_attr)
        found = []
        if ctx.known(ctx.state["vpc_id"]):
            found = _find(ctx, "describe_security_groups", "SecurityGroups", name, _vpc_filter(ctx))
        if found:
            ctx.state[key] = found[0]["GroupId"]
            ctx.keep()
            continue
        ctx.record("create", "ec2 security-group", name, description)
        created.add(key)
        if ctx.plan_only:
            ctx.state[key] = ctx.pending(name)
            continue
        ctx.state[key] = ctx.call("ec2", "create_security_group", GroupName=name, Description=description,
                                  VpcId=ctx.state["vpc_id"],
                                  TagSpecifications=ctx.ec2_tags("security-group", name))["GroupId"]
    labels = {ctx.state[key]: getattr(ctx.names, attr) for key, attr, _ in SECURITY_GROUPS}
    labels[ctx.state["s3_prefix_list_id"]] = "S3 prefix list"
    for key, wanted in desired_rules(ctx).items():
        name = labels[ctx.state[key]]
        group_id = ctx.state[key]
        current: dict[Rule, str] = {}
        if ctx.known(group_id):
            for rule in ctx.call("ec2", "describe_security_group_rules",
                                 Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroupRules"]:
                current[rule_from_aws(rule)] = rule["SecurityGroupRuleId"]
        extra = {r: i for r, i in current.items() if r not in wanted}
        missing = sorted(wanted - set(current))
        if key not in created:
            for rule in extra:
                ctx.record("update", "ec2 security-group", name, f"revoke {rule.text(labels)}")
            for rule in missing:
                ctx.record("update", "ec2 security-group", name, f"authorize {rule.text(labels)}")
        if ctx.plan_only:
            continue
        for egress in (False, True):
            revoke = [i for r, i in extra.items() if r.egress is egress]
            grant = [r.permission() for r in missing if r.egress is egress]
            operation = "egress" if egress else "ingress"
            if revoke:
                ctx.call("ec2", f"revoke_security_group_{operation}", GroupId=group_id, SecurityGroupRuleIds=revoke)
            if grant:
                ctx.call("ec2", f"authorize_security_group_{operation}", GroupId=group_id, IpPermissions=grant)
