"""The session wire format (AI Transport 0.8.0, OpenAI Responses codec), pure: no I/O.

Data flows channel -> `Decoder` -> `Tree` -> `View`; outgoing intent becomes `Publish` /
`Append` / `Update` operations that the transport maps onto ably calls.
"""

from .approvals import deciders_text, not_a_decider
from .decoder import CodecDecoder, Decoded, Decoder
from .encoder import (
    Append,
    InputHeaders,
    Operation,
    Publish,
    RunHeaders,
    Step,
    StreamEncoder,
    Update,
    cancel,
    default_step_id,
    input_publish,
)
from .projection import MessageProjection
from .responses import (
    ResponsesCodec,
    ResponsesEncoder,
    approved_unexecuted_calls,
    regenerate,
    resolved_call_ids,
    to_chat_messages,
    to_responses_input,
    tool_approval_response,
    tool_result,
    tool_result_error,
    unanswered_calls,
    user_message,
    user_message_seed,
    user_text,
)
from .tree import Decision, InputNode, LogEntry, Node, RunNode, StepInfo, Tree
from .turns import (
    CancelFilter,
    CancelTarget,
    Ownership,
    SteerOutcome,
    UserOwnership,
    active_turns,
    cancel_label,
    cancel_targets,
    steer_outcome,
)
from .view import BranchMove, BranchSelection, View
from .wire import (
    Action,
    ErrorCode,
    H,
    Kind,
    Name,
    ProtocolError,
    Role,
    RunReason,
    RunStatus,
    StepReason,
    StreamStatus,
    invocation_body,
    parse_invocation,
)


def new_decoder() -> Decoder:
    """The session's one decoder, with the OpenAI Responses codec."""
    return Decoder(ResponsesCodec())


__all__ = [
    "Action",
    "Append",
    "BranchMove",
    "BranchSelection",
    "CancelFilter",
    "CancelTarget",
    "CodecDecoder",
    "Decision",
    "Decoded",
    "Decoder",
    "ErrorCode",
    "H",
    "InputHeaders",
    "InputNode",
    "Kind",
    "LogEntry",
    "MessageProjection",
    "Name",
    "Node",
    "Operation",
    "Ownership",
    "ProtocolError",
    "Publish",
    "ResponsesCodec",
    "ResponsesEncoder",
    "Role",
    "RunHeaders",
    "RunNode",
    "RunReason",
    "RunStatus",
    "SteerOutcome",
    "Step",
    "StepInfo",
    "StepReason",
    "StreamEncoder",
    "StreamStatus",
    "Tree",
    "Update",
    "UserOwnership",
    "View",
    "active_turns",
    "approved_unexecuted_calls",
    "cancel",
    "cancel_label",
    "cancel_targets",
    "deciders_text",
    "default_step_id",
    "input_publish",
    "invocation_body",
    "new_decoder",
    "not_a_decider",
    "parse_invocation",
    "regenerate",
    "resolved_call_ids",
    "steer_outcome",
    "to_chat_messages",
    "to_responses_input",
    "tool_approval_response",
    "tool_result",
    "tool_result_error",
    "unanswered_calls",
    "user_message",
    "user_message_seed",
    "user_text",
]
