"""Speed-ups for moto that the emulator installs wherever it runs moto (in process and in its
moto server), none of which changes an answer. Creating the emulator's stack is paid by every
emulator start and every AWS test fixture; on moto 5.2 most of its cost was the first two:

- moto parses every template with PyYAML's pure-Python loader, JSON ones included (0.4 s for
  infra/template.json). A JSON template is the same document parsed as JSON, so it is parsed
  as JSON first; anything else goes to moto's parser.
- moto makes an RSA-2048 private key for every KMS key, symmetric ones included (0.1 s each;
  the stack's data key and DynamoDB's default encryption key), though only asymmetric keys'
  Sign, Verify and GetPublicKey ever use it. It is made on first use instead.

The third is the queue's: moto lists a queue's visible messages and counts its delayed and
in-flight ones (several times per ReceiveMessage and SendMessage) by asking each message
whether it is visible or delayed, each question asking the time through two datetime
conversions: 30 ms per ReceiveMessage with 1,000 messages queued, most of a 1,000-way
fan-out's time. Each listing asks the time once instead, the same instant for every message.

The fourth is every request's: to find the handler method of an action, moto lists every
member of the response class with `inspect.getmembers` and converts the action's name to
snake case on each request (about 7% of an embedded DynamoDB call's CPU). A class's
functions and a name's snake case never change: each is worked out once.

The fifth is DynamoDB's: moto lexes every condition expression and tokenizes every update
expression from its text on each request (the tokenizer twice per UpdateItem; about a third of
the parse's Python calls), though the lexed nodes and tokens depend on the text alone: which
names and values the placeholders stand for is looked up in the stages after it. Each text's
lexed nodes and tokens are remembered (the last 512 texts; moto never changes them once made,
and every request gets its own container of them); the parse that puts names and values in,
and every evaluation, run on each request as before.

The sixth is the moto server's: to route a request it asks whether the request's host is
the name of one of moto's service packages, and lists moto's directory to find out, `isdir`
on each of its 180-odd entries, for every request (0.67 ms each, a fifth of a bare call to
`steplane dev`'s moto server). The packages installed do not change while the server runs:
they are listed once.

The seventh is DynamoDB's responses: attribute values are rendered directly instead of by
moto's generic serializer (moto_attribute_values.py).

Two are fixes. moto 5.2's stack update modifies a resource whose parameters changed even when
its `Condition` is false (it was never created): a deploy of new code with `WithFunction=false`
(the function's `DeploymentId` changed) then fails with "Fn::GetAtt references undefined
resource FunctionRole"; such resources are left alone, as CloudFormation does. And moto 5.2's
CloudFormation `AWS::Lambda::Version` has no physical id, so a `Ref`
to it (the version's ARN on AWS, what an event source mapping per deployment points at,
docs/deployments.md) hands moto's model object on and the stack fails with a 500; removing
the resource never deleted the version. Its `Ref` is the version's ARN here too, and removing
it deletes that version.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

from . import moto_attribute_values

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Install the speed-ups (idempotent; imports moto's CloudFormation, KMS and SQS)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _parse_json_templates_as_json()
        _make_kms_private_keys_on_first_use()
        _list_visible_messages_at_one_instant()
        _remember_lexed_expressions()
        _remember_handler_methods()
        _list_moto_modules_once()
        moto_attribute_values.install()
        _lambda_versions_ref_their_arn()
        _update_leaves_resources_whose_condition_is_false()
        _installed = True


def _parse_json_templates_as_json() -> None:
    from moto.cloudformation.models import Stack

    parse_yaml = Stack.parse_template

    def parse_template(template: str) -> dict[str, Any]:
        try:
            parsed = json.loads(template)
        except ValueError:
            return parse_yaml(template)  # type: ignore[no-any-return]
        return parsed if isinstance(parsed, dict) else parse_yaml(template)

    Stack.parse_template = staticmethod(parse_template)  # type: ignore[method-assign]


class _PrivateKeyOnFirstUse:
    """Stands in for moto's private key of a KMS key until something uses it."""

    def __init__(self, make: Callable[[str], Any], key_spec: str) -> None:
        self._make = make
        self._key_spec = key_spec
        self._key: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # a copy being made before __init__: not the key's to answer
            raise AttributeError(name)
        with self._lock:
            if self._key is None:
                self._key = self._make(self._key_spec)
        return getattr(self._key, name)


def _make_kms_private_keys_on_first_use() -> None:
    from moto.kms import models

    make = models.generate_private_key
    models.generate_private_key = lambda key_spec: _PrivateKeyOnFirstUse(make, key_spec)


def _list_visible_messages_at_one_instant() -> None:
    from moto.sqs import models

    def messages(queue: Any) -> list[Any]:
        now = models.unix_time_millis()  # looked up per call, as moto's own properties do
        return [m for m in queue._messages if now > m.visible_at and now >= m.delayed_until]

    def delayed(queue: Any) -> int:
        now = models.unix_time_millis()
        return sum(1 for m in queue._messages if now < m.delayed_until)

    def not_visible(queue: Any) -> int:
        now = models.unix_time_millis()
        return sum(1 for m in queue._messages if now <= m.visible_at)

    models.Queue.messages = property(messages)  # type: ignore[assignment,method-assign]
    models.Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[assignment,method-assign]
    models.Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[assignment,method-assign]


EXPRESSIONS_REMEMBERED = 512


class _TextMemo:
    """The last `EXPRESSIONS_REMEMBERED` results of a function of one expression text (a
    bounded dict, oldest dropped first; thread-safe: moto serves requests on threads). A text
    that fails to lex raises each time, nothing remembered."""

    def __init__(self, make: Callable[[str], tuple[Any, ...]]) -> None:
        self._make = make
        self._memo: collections.OrderedDict[str, tuple[Any, ...]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.made = 0  # how many texts were lexed (tests prove the memo is used)

    def __call__(self, text: str) -> tuple[Any, ...]:
        with self._lock:
            found = self._memo.get(text)
            if found is not None:
                self._memo.move_to_end(text)
                return found
        made = self._make(text)
        with self._lock:
            self.made += 1
            self._memo[text] = made
            while len(self._memo) > EXPRESSIONS_REMEMBERED:
                self._memo.popitem(last=False)
        return made


condition_lexes: _TextMemo | None = None
update_tokens: _TextMemo | None = None


def _remember_lexed_expressions() -> None:
    global condition_lexes, update_tokens
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.tokens import ExpressionTokenizer

    lex = ConditionExpressionParser._lex_condition_expression

    def lex_text(text: str) -> tuple[Any, ...]:
        parser = ConditionExpressionParser(text, None, None)  # lexing reads the text alone
        return tuple(lex(parser))

    condition_lexes = _TextMemo(lex_text)
    lexes = condition_lexes

    def lex_condition_expression(self: Any) -> collections.deque[Any]:
        if not isinstance(self.condition_expression, str):
            return lex(self)  # type: ignore[no-any-return]
        return collections.deque(lexes(self.condition_expression))  # the stages pop from it

    ConditionExpressionParser._lex_condition_expression = lex_condition_expression  # type: ignore[method-assign]

    tokenize = ExpressionTokenizer.make_list
    update_tokens = _TextMemo(lambda text: tuple(tokenize(text)))
    tokens = update_tokens

    def make_list(cls: type, text: str) -> list[Any]:
        if not isinstance(text, str):
            return tokenize(text)  # moto's own check refuses it
        return list(tokens(text))

    ExpressionTokenizer.make_list = classmethod(make_list)  # type: ignore[method-assign,assignment]


HANDLER_NAMES_REMEMBERED = 1024


def _remember_handler_methods() -> None:
    import functools

    from moto.core import responses, utils

    list_methods = utils.method_names_from_class
    snake_case = utils.camelcase_to_underscores

    @functools.lru_cache(maxsize=HANDLER_NAMES_REMEMBERED)
    def method_names_from_class(clazz: object) -> frozenset[str]:
        return frozenset(list_methods(clazz))  # moto only asks whether a name is among them

    responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]
    responses.camelcase_to_underscores = functools.lru_cache(maxsize=HANDLER_NAMES_REMEMBERED)(
        snake_case
    )


def _list_moto_modules_once() -> None:
    import functools

    from moto import backends

    listing = backends.list_of_moto_modules
    modules = frozenset(listing())  # the server only asks `host in` of it

    @functools.wraps(listing)
    def list_of_moto_modules() -> frozenset[str]:
        return modules

    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]


def _lambda_versions_ref_their_arn() -> None:
    from moto.awslambda import models

    def create(
        cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> Any:  # fmt: skip
        properties = cloudformation_json["Properties"]
        backend = models.lambda_backends[account_id][region_name]
        published = backend.publish_version(
            properties["FunctionName"], properties.get("Description", "")
        )
        version = models.LambdaVersion({"Version": published.version})
        version.arn = published.function_arn  # type: ignore[attr-defined]
        return version

    def delete(
        cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str,
    ) -> None:  # fmt: skip
        function_arn, _, qualifier = resource_name.rpartition(":")
        backend = models.lambda_backends[account_id][region_name]
        with contextlib.suppress(Exception):  # already gone
            backend.delete_function(function_arn, qualifier)

    versions = models.LambdaVersion
    versions.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    versions.delete_from_cloudformation_json = classmethod(delete)  # type: ignore[method-assign,assignment]
    versions.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]


def _update_leaves_resources_whose_condition_is_false() -> None:
    from moto.cloudformation.parsing import ResourceMap

    diff = ResourceMap.build_resource_diff

    def build_resource_diff(
        self: Any, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        actions = diff(self, other_template, parameters)
        resources = other_template["Resources"]

        def absent(name: str) -> bool:
            condition = resources[name].get("Condition")
            return condition is not None and not self.lazy_condition_map.get(condition, True)

        actions["Modify"] = [name for name in actions["Modify"] if not absent(name)]
        return actions  # type: ignore[no-any-return]

    ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]
