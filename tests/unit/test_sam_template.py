"""github-app/template.yaml and github-app/Dockerfile: the properties dbvend relies on (cfn-lint runs on
the template in tests/integration/test_cfn_lint.py)."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.api import databases, health, requests, webhook
from engine.portal import pages as portal_pages
from engine.settings import Settings
from tests.support.paths import ROOT

APP = ROOT / "github-app"
TEMPLATE = APP / "template.yaml"
DOCKERFILE = APP / "Dockerfile"

API_ENVIRONMENT = {
    "DBVEND_QUEUE",
    "DBVEND_SNS_TOPIC_ARN",
    "DBVEND_GITOPS",
    "DBVEND_GITHUB_REPOSITORY",
    "DBVEND_GITHUB_APP_ID",
    "DBVEND_GITHUB_INSTALLATION_ID",
    "DBVEND_GITHUB_PRIVATE_KEY_SECRET_ARN",
    "DBVEND_GITHUB_WEBHOOK_SECRET_SECRET_ARN",
    "DBVEND_API_KEY_HASHES_SECRET_ARN",
    "DBVEND_DATABASE_URL_SECRET_ARN",
    "DBVEND_GITHUB_CLIENT_ID",
    "DBVEND_GITHUB_CLIENT_SECRET_SECRET_ARN",
    "DBVEND_PUBLIC_URL",
}
# The consumer never sees API keys, webhooks or people signing in: it gets none of those secrets.
CONSUMER_ENVIRONMENT = API_ENVIRONMENT - {
    "DBVEND_API_KEY_HASHES_SECRET_ARN",
    "DBVEND_GITHUB_WEBHOOK_SECRET_SECRET_ARN",
    "DBVEND_GITHUB_CLIENT_ID",
    "DBVEND_GITHUB_CLIENT_SECRET_SECRET_ARN",
    "DBVEND_PUBLIC_URL",
} | {"DBVEND_SQS_QUEUE_URL", "DBVEND_STUCK_AFTER"}
NO_VALUE = {"Ref": "AWS::NoValue"}
ALARM_ACTIONS = {"Fn::If": ["HasAlarmTarget", [{"Ref": "AlarmTopicArn"}], NO_VALUE]}


# --- loading CloudFormation YAML ---------------------------------------------------------------


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short tags as their long forms (!Ref X -> {"Ref": "X"})."""


def _short_tag(name: str) -> Callable[[CloudFormationLoader, yaml.Node], dict[str, Any]]:
    key = name if name in ("Ref", "Condition") else f"Fn::{name}"

    def construct(loader: CloudFormationLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "GetAtt":  # !GetAtt Resource.Attribute -> {"Fn::GetAtt": [Resource, Attribute]}
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {key: value}

    return construct


for _tag in (
    "Ref",
    "GetAtt",
    "Sub",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "Condition",
    "Base64",
    "GetAZs",
    "ImportValue",
    "Cidr",
):
    CloudFormationLoader.add_constructor(f"!{_tag}", _short_tag(_tag))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=CloudFormationLoader)
    return loaded


def resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return properties


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == resource_type}


def branches(value: Any) -> Iterator[Any]:
    """The values an Fn::If may take (both branches, AWS::NoValue left out); a plain value itself."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        for branch in value["Fn::If"][1:]:
            yield from branches(branch)
    elif value != NO_VALUE:
        yield value


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(role: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Each statement of an IAM role's inline policies, with the condition its policy depends on."""
    for entry in role["Properties"].get("Policies", []):
        condition = entry["Fn::If"][0] if isinstance(entry, dict) and "Fn::If" in entry else None
        for policy in branches(entry):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield condition, statement


def role_of(template: dict[str, Any], function: str) -> dict[str, Any]:
    role = resource(template, function)["Role"]
    assert role == {"Fn::GetAtt": [f"{function}Role", "Arn"]}, "an explicit role, so SAM adds no policy"
    found: dict[str, Any] = template["Resources"][f"{function}Role"]
    assert found["Type"] == "AWS::IAM::Role"
    return found


def environment(template: dict[str, Any], function: str) -> dict[str, Any]:
    """A function's environment variables: the Globals' merged with its own (as SAM merges them)."""
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    own = resource(template, function).get("Environment", {}).get("Variables", {})
    return {**common, **own}


# --- cfn-lint ------------------------------------------------------------------------------------


def test_no_cfn_lint_rule_is_silenced(template: dict[str, Any]) -> None:
    """A rule that must be ignored needs its reason next to it in Metadata; there is none today."""
    configs = [template.get("Metadata", {}).get("cfn-lint")]
    configs += [value.get("Metadata", {}).get("cfn-lint") for value in template["Resources"].values()]
    assert [config for config in configs if config] == []


# --- parameters and conditions -------------------------------------------------------------------


def test_parameters_have_descriptions_and_the_optional_ones_sane_defaults(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert all(parameter.get("Description") for parameter in parameters.values())
    defaults = {name: parameter.get("Default") for name, parameter in parameters.items()}
    assert defaults["StageName"] == "v1"
    for optional in ("DomainName", "CertificateArn", "HostedZoneId", "GitHubInstallationId", "AlarmTopicArn"):
        assert defaults[optional] == "", optional
    for network in ("SubnetIds", "SecurityGroupIds"):
        assert parameters[network] == {**parameters[network], "Type": "CommaDelimitedList", "Default": ""}
    assert (defaults["LogRetentionDays"], defaults["ConsumerBatchSize"]) == (30, 10)
    assert (defaults["ConsumerBatchingWindowSeconds"], defaults["ConsumerTimeoutSeconds"]) == (5, 300)
    assert parameters["QuotaPeriod"]["AllowedValues"] == ["DAY", "WEEK", "MONTH"]
    assert defaults["StuckAfterSeconds"] == Settings.model_fields["stuck_after"].default == 900
    assert defaults["CreateApiGatewayLoggingRole"] == "false"  # the account's setting is not ours to take
    required = {
        "GitHubRepository",
        "GitHubAppId",
        "GitHubPrivateKeySecretArn",
        "GitHubWebhookSecretSecretArn",
        "ApiKeyHashesSecretArn",
        "DatabaseUrlSecretArn",
    }
    assert {name for name, default in defaults.items() if default is None} == required


def test_every_parameter_is_in_exactly_one_group(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"])


def test_allowed_patterns_accept_real_values_and_empty_optionals(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]

    def allowed(name: str, value: str) -> bool:
        return re.fullmatch(parameters[name]["AllowedPattern"], value) is not None

    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dbvend/github-key-AbC123"
    assert allowed("GitHubPrivateKeySecretArn", secret)
    assert not allowed("GitHubPrivateKeySecretArn", secret.rsplit("-", 1)[0])  # IAM needs the full ARN
    assert allowed("GitHubRepository", "acme/infra") and not allowed("GitHubRepository", "infra")
    assert allowed("DomainName", "dbvend.example.com") and allowed("DomainName", "")
    assert allowed("HostedZoneId", "Z0123456789ABCDEFGHIJ") and allowed("CertificateArn", "")
    assert allowed("AlarmTopicArn", "arn:aws:sns:eu-west-1:123456789012:ops") and allowed("AlarmTopicArn", "")


def test_conditions(template: dict[str, Any]) -> None:
    conditions = template["Conditions"]
    assert {"HasDomain", "HasVpc", "HasInstallationId", "HasAlarmTarget"} <= set(conditions)
    domain_parts = conditions["HasDomain"]["Fn::And"]
    assert domain_parts == [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": name}, ""]}]}
        for name in ("DomainName", "CertificateArn", "HostedZoneId")
    ]
    assert conditions["HasVpc"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "SubnetIds"}]}, ""]}]
    }


# --- the API -------------------------------------------------------------------------------------


def test_the_api_requires_a_key_under_a_usage_plan_from_the_parameters(template: dict[str, Any]) -> None:
    api = resource(template, "RestApi")
    assert api["Auth"]["ApiKeyRequired"] is True
    plan = api["Auth"]["UsagePlan"]
    assert plan["CreateUsagePlan"] == "PER_API"
    assert plan["Throttle"] == {
        "RateLimit": {"Ref": "ThrottleRateLimit"},
        "BurstLimit": {"Ref": "ThrottleBurstLimit"},
    }
    assert plan["Quota"] == {"Limit": {"Ref": "QuotaLimit"}, "Period": {"Ref": "QuotaPeriod"}}
    assert api["StageName"] == {"Ref": "StageName"}
    assert api["EndpointConfiguration"] == {"Type": "REGIONAL"}
    assert api["TracingEnabled"] is False


def test_the_custom_domain_is_optional_and_regional(template: dict[str, Any]) -> None:
    condition, domain, otherwise = resource(template, "RestApi")["Domain"]["Fn::If"]
    assert (condition, otherwise) == ("HasDomain", NO_VALUE)
    assert domain["DomainName"] == {"Ref": "DomainName"}
    assert domain["CertificateArn"] == {"Ref": "CertificateArn"}
    assert domain["Route53"] == {"HostedZoneId": {"Ref": "HostedZoneId"}}
    assert domain["EndpointConfiguration"] == "REGIONAL"
    # SAM refuses an intrinsic as Domain; AWS::LanguageExtensions resolves the Fn::If before it runs.
    assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]


PORTAL_ROUTES = {
    ("GET", "/"),
    ("ANY", "/signin"),
    ("POST", "/signout"),
    ("GET", "/auth/github"),
    ("GET", "/auth/github/callback"),
    ("ANY", "/request"),
    ("GET", "/requests/{proxy+}"),
    ("GET", "/fleet"),
    ("GET", "/audit"),
    ("ANY", "/databases/{proxy+}"),
    ("GET", "/static/{proxy+}"),
}


def test_only_the_webhook_health_check_and_portal_go_without_an_api_key(template: dict[str, Any]) -> None:
    events = resource(template, "ApiFunction")["Events"]
    routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"]): event["Properties"].get("Auth")
        for event in events.values()
    }
    assert routes == {
        ("ANY", "/"): None,
        ("ANY", "/{proxy+}"): None,
        ("POST", "/github/webhook"): {"ApiKeyRequired": False},
        ("GET", "/healthz"): {"ApiKeyRequired": False},
    } | {route: {"ApiKeyRequired": False} for route in PORTAL_ROUTES}
    assert all(event["Type"] == "Api" for event in events.values())
    assert all(event["Properties"]["RestApiId"] == {"Ref": "RestApi"} for event in events.values())


def test_the_keyless_routes_are_dbvends_own() -> None:
    assert "/github/webhook" in {route.path for route in webhook.router.routes}  # type: ignore[attr-defined]
    assert "/healthz" in {route.path for route in health.router.routes}  # type: ignore[attr-defined]
    # each keyless portal route is the prefix of pages the portal serves (each checks its session)
    pages = {route.path for route in portal_pages.router.routes}  # type: ignore[attr-defined]
    for _, path in PORTAL_ROUTES:
        prefix = path.removesuffix("{proxy+}")
        assert any(page == prefix or (prefix.endswith("/") and page.startswith(prefix)) for page in pages), (
            path
        )
    api_paths = {route.path for module in (databases, requests) for route in module.router.routes}  # type: ignore[attr-defined]
    assert all(path.startswith("/v1/") for path in api_paths)  # no API route hides under a keyless one


# $context variables the access log may hold: ids, the caller's address, the route's template and
# how it went. Never a body ($input), a header ($context.identity.userAgent, ...) or the key itself.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "apiKeyId": "$context.identity.apiKeyId",
    "sourceIp": "$context.identity.sourceIp",
    "method": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "errorType": "$context.error.responseType",
}


def test_the_api_writes_access_logs_without_bodies_headers_or_keys(template: dict[str, Any]) -> None:
    setting = resource(template, "RestApi")["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert json.loads(setting["Format"]) == ACCESS_LOG_FIELDS  # one JSON object per line
    assert not re.search(r"\$input|header|userAgent|apiKey\b|requestOverride", setting["Format"])
    group = resource(template, "ApiAccessLogGroup")
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/apigateway/${AWS::StackName}-api-access"}


def method_settings(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, route) -> its throttle; MethodSettings writes each "/" of a route as "~1"."""
    found = {}
    for setting in resource(template, "RestApi")["MethodSettings"]:
        path = setting["ResourcePath"]
        route = path if path in ("/", "/*") else path.removeprefix("/").replace("~1", "/")
        limits = {key: value for key, value in setting.items() if key not in ("ResourcePath", "HttpMethod")}
        found[(setting["HttpMethod"], route)] = limits
    return found


def test_every_route_has_a_gateway_throttle_and_the_webhook_its_own(template: dict[str, Any]) -> None:
    assert method_settings(template) == {
        ("*", "/*"): {  # every method of the stage, keyless ones included
            "ThrottlingRateLimit": {"Ref": "StageThrottleRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "StageThrottleBurstLimit"},
        },
        ("POST", "/github/webhook"): {
            "ThrottlingRateLimit": {"Ref": "WebhookThrottleRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "WebhookThrottleBurstLimit"},
        },
    }
    routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"])
        for event in resource(template, "ApiFunction")["Events"].values()
    }
    assert ("POST", "/github/webhook") in routes  # the webhook's setting names a real method
    # no data trace: it would log request and response bodies
    assert not any(setting.get("DataTraceEnabled") for setting in method_settings(template).values())


def test_the_stage_throttle_leaves_room_for_one_keys_usage_plan(template: dict[str, Any]) -> None:
    defaults = {name: parameter.get("Default") for name, parameter in template["Parameters"].items()}
    assert defaults["StageThrottleRateLimit"] >= defaults["ThrottleRateLimit"]
    assert defaults["StageThrottleBurstLimit"] >= defaults["ThrottleBurstLimit"]
    assert defaults["WebhookThrottleRateLimit"] <= defaults["StageThrottleRateLimit"]


def test_the_account_logging_role_is_set_only_when_asked_and_outlives_the_stack(
    template: dict[str, Any],
) -> None:
    conditions = template["Conditions"]
    assert conditions["CreatesApiGatewayLoggingRole"] == {
        "Fn::Equals": [{"Ref": "CreateApiGatewayLoggingRole"}, "true"]
    }
    role, account = template["Resources"]["ApiGatewayLoggingRole"], template["Resources"]["ApiGatewayAccount"]
    assert role["Condition"] == account["Condition"] == "CreatesApiGatewayLoggingRole"
    assert account["Properties"] == {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayLoggingRole", "Arn"]}}
    # API Gateway keeps using the role after the stack is gone, for every API in the region
    assert (role["DeletionPolicy"], role["UpdateReplacePolicy"]) == ("Retain", "Retain")
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
    ]
    assert "Policies" not in role["Properties"]
    # the stage (after the RestApi) waits for the account's setting when this stack makes it
    metadata = template["Resources"]["RestApi"]["Metadata"]
    [(condition, reference, _)] = [value["Fn::If"] for value in metadata.values()]
    assert (condition, reference) == ("CreatesApiGatewayLoggingRole", {"Ref": "ApiGatewayAccount"})


def test_the_api_function_is_a_zip_of_the_repository(template: dict[str, Any]) -> None:
    function = resource(template, "ApiFunction")
    assert function.get("PackageType", "Zip") == "Zip"
    assert (function["Handler"], function["Runtime"]) == ("engine.aws.api_handler", "python3.11")
    assert (function["MemorySize"], function["Timeout"]) == (512, 29)
    assert (APP / function["CodeUri"]).resolve() == ROOT
    assert (ROOT / "pyproject.toml").is_file()


# --- the queue -----------------------------------------------------------------------------------


def test_the_consumer_reads_the_queue_in_batches_reporting_failed_items(template: dict[str, Any]) -> None:
    events = resource(template, "ConsumerFunction")["Events"]
    assert sorted(event["Type"] for event in events.values()) == ["SQS", "Schedule"]
    [sqs] = [event["Properties"] for event in events.values() if event["Type"] == "SQS"]
    assert sqs["Queue"] == {"Fn::GetAtt": ["RequestQueue", "Arn"]}
    assert sqs["BatchSize"] == {"Ref": "ConsumerBatchSize"}
    assert sqs["MaximumBatchingWindowInSeconds"] == {"Ref": "ConsumerBatchingWindowSeconds"}
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_consumer_is_an_image_built_from_the_dockerfile(template: dict[str, Any]) -> None:
    consumer = template["Resources"]["ConsumerFunction"]
    assert consumer["Properties"]["PackageType"] == "Image"
    assert consumer["Properties"]["MemorySize"] == 2048
    assert consumer["Properties"]["Timeout"] == {"Ref": "ConsumerTimeoutSeconds"}
    metadata = consumer["Metadata"]
    context = (APP / metadata["DockerContext"]).resolve()
    assert context == ROOT
    assert (context / metadata["Dockerfile"]).resolve() == DOCKERFILE  # named relative to the context
    assert metadata["DockerTag"]


def test_the_queue_redrives_to_the_dead_letter_queue_after_five_receives(template: dict[str, Any]) -> None:
    queue = resource(template, "RequestQueue")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["RequestDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert Settings.model_fields["max_receives"].default == 5  # the consumer fails the request on the 5th
    assert queue["SqsManagedSseEnabled"] is True
    dead_letters = resource(template, "RequestDeadLetterQueue")
    assert dead_letters["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dead_letters["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


def test_the_visibility_timeout_is_six_times_the_consumers_timeout(template: dict[str, Any]) -> None:
    queue = resource(template, "RequestQueue")
    assert queue["VisibilityTimeout"] == {
        "Fn::FindInMap": ["QueueVisibility", {"Ref": "ConsumerTimeoutSeconds"}, "VisibilityTimeout"]
    }
    mapping = template["Mappings"]["QueueVisibility"]
    timeouts = template["Parameters"]["ConsumerTimeoutSeconds"]["AllowedValues"]
    assert sorted(mapping, key=int) == [str(timeout) for timeout in timeouts]
    assert all(entry["VisibilityTimeout"] == 6 * int(key) for key, entry in mapping.items())
    assert max(timeouts) <= 900  # Lambda's limit


def test_the_topic_delivers_raw_messages_to_the_queue(template: dict[str, Any]) -> None:
    subscription = resource(template, "RequestQueueSubscription")
    assert subscription == {
        "TopicArn": {"Ref": "RequestTopic"},
        "Protocol": "sqs",
        "Endpoint": {"Fn::GetAtt": ["RequestQueue", "Arn"]},
        "RawMessageDelivery": True,
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["SubscriptionDeadLetterQueue", "Arn"]}},
    }
    assert resource(template, "RequestTopic")["KmsMasterKeyId"] == "alias/aws/sns"


PERIODIC_RULE_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${AWS::StackName}-periodic"
}
# queue policy -> (its one queue, the one service that may send to it, the one source it sends for)
QUEUE_SENDERS = {
    "RequestQueuePolicy": ("RequestQueue", "sns.amazonaws.com", {"Ref": "RequestTopic"}),
    "SubscriptionDeadLetterQueuePolicy": (
        "SubscriptionDeadLetterQueue",
        "sns.amazonaws.com",
        {"Ref": "RequestTopic"},
    ),
    "PeriodicDeadLetterQueuePolicy": ("PeriodicDeadLetterQueue", "events.amazonaws.com", PERIODIC_RULE_ARN),
}


def test_each_queue_takes_messages_only_from_its_one_sender(template: dict[str, Any]) -> None:
    assert set(of_type(template, "AWS::SQS::QueuePolicy")) == set(QUEUE_SENDERS)
    for name, (queue, service, source) in QUEUE_SENDERS.items():
        policy = resource(template, name)
        assert policy["Queues"] == [{"Ref": queue}]
        [statement] = policy["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": service}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": source}}


def test_what_sns_cannot_deliver_is_kept_encrypted_and_alarmed(template: dict[str, Any]) -> None:
    queue = resource(template, "SubscriptionDeadLetterQueue")
    assert queue["SqsManagedSseEnabled"] is True  # SSE-SQS, as the others: SNS needs no KMS grant
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert "RedrivePolicy" not in queue  # the end of the line
    assert alarmed_queues(template)["SubscriptionDeadLetterQueueAlarm"] == "SubscriptionDeadLetterQueue"


def test_the_consumer_runs_its_periodic_pass_every_five_minutes(template: dict[str, Any]) -> None:
    from engine.aws import PERIODIC

    events = resource(template, "ConsumerFunction")["Events"]
    [schedule] = [event["Properties"] for event in events.values() if event["Type"] == "Schedule"]
    assert schedule["Schedule"] == "rate(5 minutes)"
    assert json.loads(schedule["Input"]) == {"dbvend": PERIODIC} == {"dbvend": "periodic"}
    assert schedule["Name"] == {"Fn::Sub": "${AWS::StackName}-periodic"}  # PeriodicDeadLetterQueuePolicy's
    assert schedule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["PeriodicDeadLetterQueue", "Arn"]}}
    assert schedule["RetryPolicy"] == {"MaximumEventAgeInSeconds": 300}  # the next pass replaces it
    assert environment(template, "ConsumerFunction")["DBVEND_STUCK_AFTER"] == {"Ref": "StuckAfterSeconds"}


def test_a_failed_periodic_pass_is_not_retried_but_recorded_and_alarmed(template: dict[str, Any]) -> None:
    invoke = resource(template, "ConsumerFunction")["EventInvokeConfig"]
    assert (invoke["MaximumRetryAttempts"], invoke["MaximumEventAgeInSeconds"]) == (0, 300)
    assert invoke["DestinationConfig"] == {
        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["PeriodicDeadLetterQueue", "Arn"]}}
    }
    queue = resource(template, "PeriodicDeadLetterQueue")
    assert (queue["SqsManagedSseEnabled"], queue["MessageRetentionPeriod"]) == (True, 14 * 24 * 3600)
    assert alarmed_queues(template)["PeriodicDeadLetterQueueAlarm"] == "PeriodicDeadLetterQueue"
    # Lambda sends to an on-failure destination with the function's own role
    sends = [
        statement["Resource"]
        for _, statement in statements(role_of(template, "ConsumerFunction"))
        if "sqs:SendMessage" in listed(statement["Action"])
    ]
    assert sends == [{"Fn::GetAtt": ["PeriodicDeadLetterQueue", "Arn"]}]


# --- operations ----------------------------------------------------------------------------------


def alarmed_queues(template: dict[str, Any]) -> dict[str, str]:
    """alarm -> the queue whose visible messages it counts."""
    found = {}
    for name, alarm in of_type(template, "AWS::CloudWatch::Alarm").items():
        properties = alarm["Properties"]
        if properties["MetricName"] == "ApproximateNumberOfMessagesVisible":
            assert (properties["Namespace"], properties["Statistic"]) == ("AWS/SQS", "Maximum")
            [dimension] = properties["Dimensions"]
            assert dimension["Name"] == "QueueName"
            queue, attribute = dimension["Value"]["Fn::GetAtt"]
            assert attribute == "QueueName"
            found[name] = queue
    return found


def test_alarms_watch_every_dead_letter_queue_and_the_consumers_errors(template: dict[str, Any]) -> None:
    alarms = {
        name: alarm["Properties"] for name, alarm in of_type(template, "AWS::CloudWatch::Alarm").items()
    }
    assert alarmed_queues(template) == {
        "DeadLetterQueueAlarm": "RequestDeadLetterQueue",
        "SubscriptionDeadLetterQueueAlarm": "SubscriptionDeadLetterQueue",
        "PeriodicDeadLetterQueueAlarm": "PeriodicDeadLetterQueue",
    }
    # every queue that nothing consumes is a dead-letter queue, and has its alarm
    consumed = {"RequestQueue"}
    assert set(of_type(template, "AWS::SQS::Queue")) - consumed == set(alarmed_queues(template).values())
    errors = alarms["ConsumerErrorsAlarm"]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ConsumerFunction"}}]
    for alarm in alarms.values():
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert alarm["AlarmActions"] == alarm["OKActions"] == ALARM_ACTIONS


def test_each_function_logs_to_its_own_group_with_retention(template: dict[str, Any]) -> None:
    for function, suffix in (("ApiFunction", "api"), ("ConsumerFunction", "consumer")):
        properties = resource(template, function)
        assert properties["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"}
        group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
        group = template["Resources"][group_id]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{suffix}"}
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert set(of_type(template, "AWS::Logs::LogGroup")) == {
        "ApiLogGroup",
        "ConsumerLogGroup",
        "ApiAccessLogGroup",
    }


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {
        "ApiUrl",
        "WebhookUrl",
        "ApiKeyId",
        "ApiKeyUsagePlanId",
        "TopicArn",
        "QueueUrl",
        "DeadLetterQueueUrl",
    } <= set(outputs)
    assert all(url["Fn::Sub"].endswith("/github/webhook") for url in branches(outputs["WebhookUrl"]["Value"]))
    assert outputs["ApiKeyId"]["Value"] == {"Ref": "RestApiApiKey"}  # SAM's <api>ApiKey (PER_API)
    assert outputs["ApiKeyUsagePlanId"]["Value"] == {"Ref": "RestApiUsagePlan"}


# --- configuration and permissions ---------------------------------------------------------------


def test_the_functions_get_exactly_the_settings_they_need(template: dict[str, Any]) -> None:
    api, consumer = environment(template, "ApiFunction"), environment(template, "ConsumerFunction")
    assert set(api) == API_ENVIRONMENT
    assert set(consumer) == CONSUMER_ENVIRONMENT
    assert api["DBVEND_QUEUE"] == "sqs" and api["DBVEND_GITOPS"] == "github"
    assert api["DBVEND_SNS_TOPIC_ARN"] == {"Ref": "RequestTopic"}
    assert consumer["DBVEND_SQS_QUEUE_URL"] == {"Ref": "RequestQueue"}
    assert api["DBVEND_GITHUB_INSTALLATION_ID"] == {
        "Fn::If": ["HasInstallationId", {"Ref": "GitHubInstallationId"}, NO_VALUE]
    }
    for name in API_ENVIRONMENT | CONSUMER_ENVIRONMENT:  # each is read by engine.settings.Settings
        assert name.removeprefix("DBVEND_").lower() in Settings.model_fields, name


def test_both_functions_join_the_vpc_only_when_subnets_are_given(template: dict[str, Any]) -> None:
    for function in ("ApiFunction", "ConsumerFunction"):
        condition, config, otherwise = resource(template, function)["VpcConfig"]["Fn::If"]
        assert (condition, otherwise) == ("HasVpc", NO_VALUE)
        assert config == {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}}


def test_no_statement_allows_every_action_and_star_resources_are_vpc_only(template: dict[str, Any]) -> None:
    documents = [
        policy["Properties"]["PolicyDocument"]
        for policy in of_type(template, "AWS::SQS::QueuePolicy").values()
    ]
    found = [(None, statement) for document in documents for statement in document["Statement"]]
    for role in of_type(template, "AWS::IAM::Role").values():
        found += list(statements(role))
    assert found
    for condition, statement in found:
        actions = listed(statement["Action"])
        assert not any(action == "*" or action.endswith(":*") for action in actions), statement
        if "*" in listed(statement.get("Resource")):
            # Lambda's network-interface calls: AWS requires Resource "*", only when in a VPC.
            assert condition == "HasVpc" and all(action.startswith("ec2:") for action in actions), statement


def secret_ref(value: dict[str, Any]) -> str:
    """The parameter a secret's ARN comes from: !Ref X, or !If [condition, !Ref X, !Ref AWS::NoValue]
    for an optional one (the variable and the permission under the same condition)."""
    if "Fn::If" in value:
        condition, given, otherwise = value["Fn::If"]
        assert otherwise == NO_VALUE
        return f"{condition}:{given['Ref']}"
    return str(value["Ref"])


def test_each_function_reads_only_its_own_secrets(template: dict[str, Any]) -> None:
    for function in ("ApiFunction", "ConsumerFunction"):
        secrets = {
            secret_ref(value)
            for name, value in environment(template, function).items()
            if name.endswith("_SECRET_ARN")
        }
        readable = [
            statement["Resource"]
            for _, statement in statements(role_of(template, function))
            if "secretsmanager:GetSecretValue" in listed(statement["Action"])
        ]
        assert len(readable) == 1
        assert {secret_ref(entry) for entry in readable[0]} == secrets
        assert all(
            action != "secretsmanager:GetSecretValue" or statement["Resource"] == readable[0]
            for _, statement in statements(role_of(template, function))
            for action in listed(statement["Action"])
        )


def test_the_api_may_publish_to_the_topic_only(template: dict[str, Any]) -> None:
    found = list(statements(role_of(template, "ApiFunction")))
    publish = [statement for _, statement in found if "sns:Publish" in listed(statement["Action"])]
    assert publish and all(statement["Resource"] == {"Ref": "RequestTopic"} for statement in publish)
    actions = {action for _, statement in found for action in listed(statement["Action"])}
    assert not any(action.startswith("sqs:") for action in actions)
    logs = [
        statement for _, statement in found if any(a.startswith("logs:") for a in listed(statement["Action"]))
    ]
    assert all(statement["Resource"] == {"Fn::GetAtt": ["ApiLogGroup", "Arn"]} for statement in logs)


def test_the_consumer_may_poll_its_queue_and_publish_its_outbox(template: dict[str, Any]) -> None:
    found = [statement for _, statement in statements(role_of(template, "ConsumerFunction"))]
    by_action = {
        action: statement["Resource"] for statement in found for action in listed(statement["Action"])
    }
    for action in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility"):
        assert by_action[f"sqs:{action}"] == {"Fn::GetAtt": ["RequestQueue", "Arn"]}
    assert by_action["sns:Publish"] == {"Ref": "RequestTopic"}  # engine.queue.sqs.Outbox.flush
    assert by_action["logs:PutLogEvents"] == {"Fn::GetAtt": ["ConsumerLogGroup", "Arn"]}
    for function in ("ApiFunction", "ConsumerFunction"):
        assert not role_of(template, function)["Properties"].get("ManagedPolicyArns"), function


# --- the consumer's image ------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of github-app/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def test_the_image_runs_the_consumer_handler_on_lambdas_python() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "public.ecr.aws/lambda/python:3.11")
    commands = [arguments for instruction, arguments in instructions if instruction == "CMD"]
    assert [json.loads(command) for command in commands] == [["engine.aws.consumer_handler"]]


def test_the_image_installs_dbvend_with_everything_its_package_needs() -> None:
    instructions = dockerfile_instructions()
    runs = " ".join(arguments for instruction, arguments in instructions if instruction == "RUN")
    assert re.search(r"pip install [^&]*--target \"?\$\{LAMBDA_TASK_ROOT\}\"? /tmp/dbvend", runs)
    copied = {
        Path(arguments.split()[0])
        for instruction, arguments in instructions
        if instruction == "COPY" and not arguments.startswith("pyproject")
    }
    copy_lines = [arguments.split() for instruction, arguments in instructions if instruction == "COPY"]
    assert ["pyproject.toml", "README.md", "/tmp/dbvend/"] in copy_lines
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_dirs = {Path(directory) for directory in config["tool"]["setuptools"]["package-dir"].values()}
    assert {Path("engine"), Path("policies"), *package_dirs} <= copied
    assert not any(
        arguments.split()[0] == "." for instruction, arguments in instructions if instruction == "COPY"
    )


def test_checkov_is_pinned_in_its_own_virtualenv() -> None:
    instructions = dockerfile_instructions()
    runs = [arguments for instruction, arguments in instructions if instruction == "RUN"]
    checkov_runs = [run for run in runs if "checkov" in run]
    assert len(checkov_runs) == 1
    assert re.search(r"python3(\.11)? -m venv /opt/checkov\b", checkov_runs[0])
    assert re.search(r"/opt/checkov/bin/pip install [^&]*checkov==3\.3\.30\b", checkov_runs[0])
    assert ("ENV", "DBVEND_CHECKOV=/opt/checkov") in instructions
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^CHECKOV_VERSION\s*:?=\s*3\.3\.30\s*$", makefile, re.MULTILINE), "same checkov as make"
    # dbvend's own install (python-hcl2) never shares an environment with checkov (DESIGN.md §5)
    assert not any("checkov" in run and "LAMBDA_TASK_ROOT" in run for run in runs)
