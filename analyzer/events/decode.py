"""Decode EC2's encoded authorization message with ``sts:DecodeAuthorizationMessage``.

EC2 (and a few services built on it) put the denial's details in an encoded
blob that only AWS can decode, for a caller allowed ``sts:DecodeAuthorizationMessage``
(https://docs.aws.amazon.com/STS/latest/APIReference/API_DecodeAuthorizationMessage.html).
Decoding needs live credentials, so it is a separate step from mapping (which
does no I/O): without a client the hint stays ``not decoded``.
"""

from __future__ import annotations

import logging
from typing import Any

from analyzer.events.messages import DecodeStatus, DenialHint

log = logging.getLogger(__name__)


def decode_hint(hint: DenialHint, sts_client: Any | None) -> DenialHint:
    """The hint with its encoded message decoded when a boto3 STS client is given.

    Returns the hint unchanged when it has no encoded message; records
    ``failed`` (and logs why) when AWS refuses or the call errors, so one
    undecodable message never stops an analysis.
    """
    if hint.encoded_message is None:
        return hint
    if sts_client is None:
        return hint.with_decoded(DecodeStatus.NOT_DECODED)
    try:
        response = sts_client.decode_authorization_message(EncodedMessage=hint.encoded_message)
    except Exception as error:  # any failure, e.g. botocore's ResponseParserError on an HTTP
        # 500 (not a BotoCoreError): the event is still explained, only not decoded
        log.warning(
            "could not decode the authorization message: %s: %s",
            type(error).__name__,
            str(error).splitlines()[0] if str(error) else "",
        )
        return hint.with_decoded(DecodeStatus.FAILED)
    return hint.with_decoded(DecodeStatus.DECODED, response.get("DecodedMessage"))
