"""The HTTP API through a client generated from the served OpenAPI document
(openapi-python-client, PyPI): the document is not only valid but usable,
with typed answers.

    openapi-python-client generate --url http://127.0.0.1:3000/api/v1/openapi.json \
        --meta none --output-path GEN/sb_client
    SB_URLS=http://127.0.0.1:3000 SB_API_KEY=... SB_ADMIN_KEY=... \
        python conformance/python/test_generated.py GEN
"""

import os
import secrets
import sys

sys.path.insert(0, sys.argv[1])

from sb_client import AuthenticatedClient  # noqa: E402
from sb_client.api.admin import stats  # noqa: E402
from sb_client.api.chats import put_chat  # noqa: E402
from sb_client.api.messages import history, post_message  # noqa: E402
from sb_client.models import (  # noqa: E402
    ChatKind,
    ErrorBody,
    HistoryPage,
    MessageBody,
    PostMessage,
    PutChat,
    PutChatBody,
    StatsBody,
)

url = os.environ["SB_URLS"].split(",")[0]
api = AuthenticatedClient(base_url=url, token=os.environ["SB_API_KEY"])
admin = AuthenticatedClient(base_url=url, token=os.environ["SB_ADMIN_KEY"])

chat_id = f"generated-{secrets.token_hex(6)}"
alice, bot = f"alice-{secrets.token_hex(4)}", f"bot-{secrets.token_hex(4)}"

put = put_chat.sync(chat_id, client=api, body=PutChat(kind="group", members=[alice], bots=[bot], title="Generated"))
assert isinstance(put, PutChatBody), put
assert put.created is True
assert put.chat.id == chat_id and put.chat.kind == ChatKind.GROUP
assert put.chat.members == [alice, bot] and put.chat.bots == [bot]

sent = post_message.sync(client=api, body=PostMessage(chat_id=chat_id, sender_id=bot, content="Welcome!", client_id="w1"))
assert isinstance(sent, MessageBody), sent
assert sent.message.seq == 1 and sent.message.sender_id == bot and sent.message.content == "Welcome!"
assert sent.message.created_at.endswith("Z") and len(sent.message.created_at) == 24
again = post_message.sync(client=api, body=PostMessage(chat_id=chat_id, sender_id=bot, content="Welcome!", client_id="w1"))
assert isinstance(again, MessageBody) and again.message.id == sent.message.id

page = history.sync(chat_id, client=api, limit=10)
assert isinstance(page, HistoryPage), page
assert [m.id for m in page.messages] == [sent.message.id] and page.has_more is False

refused = post_message.sync(client=api, body=PostMessage(chat_id=chat_id, sender_id="mallory", content="x"))
assert isinstance(refused, ErrorBody), refused
assert refused.error.additional_properties["code"] == "FORBIDDEN"

s = stats.sync(client=admin)
assert isinstance(s, StatsBody), s
assert s.node_id and s.started_at.endswith("Z")
assert s.connections.cluster >= 0 and s.connections.cluster_peak >= s.connections.cluster
assert all(n.node_id for n in s.nodes)

print("ok - the generated client: put a chat, post a message, read history and admin stats, typed")
