#!/usr/bin/env python3
"""Writes tests/fixtures/chat/cases.json: real-world chat templates rendered by HF transformers.

Each case is a template (typed in from the model repositories it names), a message list, the
add_generation_prompt flag and extra kwargs, rendered with transformers' own
`render_jinja_template` (ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True), HF's
tojson / raise_exception / loop controls), after apply_chat_template's dropping of None-valued
message keys. tests/unit/chat_template_parity_test.cc requires kiln's renderer to produce the same
bytes, or the same raise_exception message.

Usage: python3 tools/make_chat_fixtures.py   (needs jinja2 and transformers)
"""
import json
import os

import jinja2
from transformers.utils.chat_template_utils import render_jinja_template

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "chat", "cases.json")

ALTERNATE = "Conversation roles must alternate user/assistant/user/assistant/..."

TEMPLATES = {}
SPECIALS = {}


def template(name, specials, text):
    TEMPLATES[name] = text
    SPECIALS[name] = specials


LLAMA_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

# meta-llama/Llama-2-7b-chat-hf
template("llama2", LLAMA_SPECIALS,
         "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")

# meta-llama/Meta-Llama-3-8B-Instruct
template("llama3", {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
         "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")

# meta-llama/Llama-3.1-8B-Instruct (tools in the first user message, tojson(indent=4), | items)
template("llama3_1", {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}, r'''{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
''')

# Qwen/Qwen2.5-7B-Instruct (ChatML with tools and tool responses)
template("qwen2_5", {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, r'''{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
''')

# Qwen/Qwen3-8B (reasoning_content, <think> splitting, messages[::-1] with a namespace, enable_thinking)
template("qwen3", {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, r'''{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}''')

# Plain ChatML (e.g. teknium/OpenHermes-2.5-Mistral-7B)
template("chatml", {"bos_token": "<s>", "eos_token": "<|im_end|>"},
         "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

# mistralai/Mistral-7B-Instruct-v0.1
template("mistral_v0_1", LLAMA_SPECIALS,
         "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")

# HuggingFaceH4/zephyr-7b-beta (trim_blocks matters: newlines after {{ }} stay)
template("zephyr", {"bos_token": "<s>", "eos_token": "</s>"}, """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}""")

# google/gemma-7b-it
template("gemma", {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"},
         "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")

# microsoft/Phi-3-mini-4k-instruct
template("phi3", {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>"},
         "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")

# Vicuna v1.1 style (lmsys/vicuna-7b-v1.5 as converted by the community)
template("vicuna", LLAMA_SPECIALS,
         "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] | trim + '\\n\\n' %}{% else %}{% set loop_messages = messages %}{% set system_message = 'A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user\\'s questions.\\n\\n' %}{% endif %}{{ system_message }}{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] | trim + '\\n' }}{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' + message['content'] | trim + eos_token + '\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")

# tiiuae/falcon-180B-chat
template("falcon", {"eos_token": "<|endoftext|>"},
         "{% for message in messages %}{% if not loop.first %}{{ '\n' }}{% endif %}{% if message['role'] == 'system' %}{{ 'System: ' }}{% elif message['role'] == 'user' %}{{ 'User: ' }}{% elif message['role'] == 'assistant' %}{{ 'Falcon: ' }}{% endif %}{{ message['content'] }}{% endfor %}{% if add_generation_prompt %}{{ '\n' + 'Falcon:' }}{% endif %}")

# The old transformers default for GPT-NeoX-style models
template("gpt_neox_default", {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
         "{% for message in messages %}{{ message.content }}{{ eos_token }}{% endfor %}")

# deepseek-ai/deepseek-llm-7b-chat
template("deepseek_llm", {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
         "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ message['content'] + '\n\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")

# deepseek-ai/deepseek-coder-6.7b-instruct (namespace, whitespace control on every tag)
template("deepseek_coder", {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<|EOT|>"}, r"""{% if not add_generation_prompt is defined %}
{% set add_generation_prompt = false %}
{% endif %}
{%- set ns = namespace(found=false) -%}
{%- for message in messages -%}
    {%- if message['role'] == 'system' -%}
        {%- set ns.found = true -%}
    {%- endif -%}
{%- endfor -%}
{{bos_token}}{%- if not ns.found -%}
{{'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n'}}
{%- endif %}
{%- for message in messages %}
    {%- if message['role'] == 'system' %}
{{ message['content'] }}
    {%- else %}
        {%- if message['role'] == 'user' %}
{{'### Instruction:\n' + message['content'] + '\n'}}
        {%- else %}
{{'### Response:\n' + message['content'] + '\n<|EOT|>\n'}}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{% if add_generation_prompt %}
{{'### Response:'}}
{% endif %}""")

# Alpaca style
template("alpaca", {"bos_token": "<s>", "eos_token": "</s>"},
         "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}{% elif message['role'] == 'user' %}{{ '### Instruction:\n' + message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}{{ '### Response:\n' + message['content'] + eos_token + '\n\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '### Response:\n' }}{% endif %}")

# Not a model's template: the interpreter's features, one per line, against Python jinja2.
template("features", {"bos_token": "<s>", "eos_token": "</s>"}, r"""{# comment #}
{%- set ns = namespace(count=0, names=[]) %}
{% for m in messages if m.role != 'system' %}
{{ loop.index }}/{{ loop.length }} {{ loop.index0 }} {{ loop.revindex }} {{ loop.first }} {{ loop.last }} {{ m.role|upper }} {{ m['content']|length }}
{%- set ns.count = ns.count + 1 %}
{%- set ns.names = ns.names + [m.role] %}
{% else %}
no messages
{% endfor %}
count={{ ns.count }} names={{ ns.names }} {{ ns.names|join('|') }} {{ ns.names|unique|list }}
{{ messages|map(attribute='role')|join(',') }} {{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|list }}
{{ (messages|first).role }} {{ (messages|last).role }} {{ messages[-1].role }} {{ messages[::-1]|map(attribute='role')|list }} {{ messages[1:]|length }}
{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 3.0 }} {{ -0.0 }}
{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1, 2] + [3] }} {{ {'k': 'v', 'n': [1, 2.5, none, true]} }} {{ ('t', 1) }}
{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' in 'abc' }} {{ 'x' not in ['a'] }} {{ 'k' in {'k': 1} }} {{ not none }} {{ none or 'dflt' }} {{ 0 and 1 }}
{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ '' is string }} {{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1.0 is float }} {{ {} is mapping }} {{ [] is sequence }} {{ 'ab' is iterable }} {{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ true is boolean }} {{ false is false }} {{ 'x' is lower }}
{{ '  pad  '|trim }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }}|{{ 'a-b'|replace('-', '+') }}|{{ 'abc'|reverse }}|{{ [3, 1, 2]|sort }}|{{ [3, 1, 2]|sort(reverse=true) }}|{{ ['b', 'A', 'a']|unique|list }}
{{ x|default('undef') }} {{ none|default('n') }} {{ ''|default('empty', true) }} {{ '42'|int + 1 }} {{ '3.5'|float }} {{ 'zz'|int }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ -3|abs }} {{ 3|string ~ '!' }} {{ [1, 2]|sum }} {{ [4, 2, 9]|max }} {{ [4, 2, 9]|min }}
{{ {'b': 1, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|items|list }} {% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }};{% endfor %} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 'd') }} {{ {'a': 1}.keys()|list }} {{ {'a': 1}.values()|list }}
{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  l'.lstrip() }}|{{ 'r  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}|{{ "it's a test".title() }}|{{ 'aaa'.replace('a', 'b', 2) }}
{{ {'b': [1, {'c': 'ü"\n'}], 'a': none}|tojson }} {{ [1, 2]|tojson(indent=2) }} {{ {'a': {'b': []}}|tojson(indent=2) }} {{ 'é'|tojson }} {{ 1.0|tojson }} {{ {'z': 1, 'a': 2}|tojson(sort_keys=true) }}
{{ 'line1\nline2\n\nline3'|indent(2) }}|{{ 'a\nb'|indent(4, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}
{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }}
{% set captured %}inside {{ 1 + 1 }}{% endset %}{{ captured|upper }}
{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %} {{ range(3)|list }} {{ range(1, 10, 3)|list }}
{% for i in range(2) %}{% for j in range(2) %}{{ i }}{{ j }}{{ loop.index }} {% endfor %}{% endfor %}
{% set a, b = [1, 2] %}{{ a }}{{ b }} {{ 'yes' if a < b else 'no' }} {{ 'only if' if false }}| {{ "esc\t\"q\" \\ \x41\u00e9" }} {{ 'con' 'cat' }}
{{ dict(a=1, b='x') }} {{ {'k': 1}['k'] }} {{ {'items': 5}['items'] }} {{ messages[0].content[:5] }} {{ 'héllo'[1] }} {{ 'héllo'[-2:] }} {{ 'héllo'|length }} {{ 'ünï'|upper }}
{% raw %}{{ not rendered }}{% endraw %}
  {%+ if true %}kept indent{% endif %}
{% if true +%}
kept newline
{%- endif %}
{{ custom_var }} {{ custom_list|length }} {{ custom_obj.nested.deep }} {{ bos_token }}{{ eos_token }}
""")

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. \"Paris\""},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "search", "description": "Web search — ünïcode",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                       "required": ["q"]}}},
]

MESSAGES = {
    "single": [{"role": "user", "content": "Hello!"}],
    "system": [{"role": "system", "content": "You are a helpful assistant."},
               {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello! How can I help?"},
                   {"role": "user", "content": "Tell me a joke."}],
    "no_system_multi": [{"role": "user", "content": "  first question  "},
                        {"role": "assistant", "content": " an answer\n"},
                        {"role": "user", "content": "second"}],
    "unicode": [{"role": "user", "content": "Héllo wörld — 你好，世界 🌍 ½ ∑ \u00a0nbsp"},
                {"role": "assistant", "content": "Привет! こんにちは 👋"},
                {"role": "user", "content": "Ελληνικά ✓"}],
    "tricky": [{"role": "user", "content": "{{ not a tag }} {% neither %} {# nor #} 'single' \"double\" \\ back\\slash\n\nnew\r\nlines\t tab  "},
               {"role": "assistant", "content": "} } { {%- -%} <|im_end|> </s>"},
               {"role": "user", "content": "\n"}],
    "not_alternating": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
    "reasoning": [{"role": "user", "content": "2+2?"},
                  {"role": "assistant", "content": "4", "reasoning_content": "Add them.\n"},
                  {"role": "user", "content": "and 3+3?"},
                  {"role": "assistant", "content": "<think>\nAdd again.\n</think>\n\n6"}],
    "none_content": [{"role": "user", "content": "q", "name": None},
                     {"role": "assistant", "content": "a", "tool_calls": None}],
}

TOOL_MESSAGES = [
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "",
     "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
    {"role": "tool", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
    {"role": "user", "content": "Thanks"},
]

FEATURE_EXTRA = {"custom_var": "cv", "custom_list": [1, 2, 3], "custom_obj": {"nested": {"deep": "bottom"}}}


def render(name, messages, add_generation_prompt, extra):
    # apply_chat_template drops None-valued message keys before rendering.
    messages = [{k: v for k, v in m.items() if v is not None} for m in messages]
    kwargs = dict(SPECIALS[name])
    kwargs.update({k: v for k, v in extra.items() if k not in ("tools", "documents")})
    try:
        out, _ = render_jinja_template(conversations=[messages], tools=extra.get("tools"),
                                       documents=extra.get("documents"), chat_template=TEMPLATES[name],
                                       add_generation_prompt=add_generation_prompt, **kwargs)
        return {"expected": out[0]}
    except jinja2.exceptions.TemplateError as e:
        # raise_exception raises a bare TemplateError; its subclasses are the interpreter's own errors.
        if type(e) is jinja2.exceptions.TemplateError:
            return {"error": str(e)}
        return {"error_other": f"{type(e).__name__}: {e}"}


def main():
    cases = []

    def add(name, messages_name, messages, agp, extra=None):
        extra = extra or {}
        case = {"template": name, "messages": messages_name, "add_generation_prompt": agp, "extra": extra}
        case.update(render(name, messages, agp, extra))
        cases.append(case)

    for name in TEMPLATES:
        if name == "features":
            continue
        for messages_name, messages in MESSAGES.items():
            for agp in (False, True):
                add(name, messages_name, messages, agp)
    add("qwen3", "system", MESSAGES["system"], True, {"enable_thinking": False})
    for name in ("qwen2_5", "llama3_1", "qwen3"):
        for agp in (False, True):
            add(name, "tools", TOOL_MESSAGES, agp, {"tools": TOOLS})
    add("llama3_1", "tools", TOOL_MESSAGES, True,
        {"tools": TOOLS, "tools_in_user_message": False, "date_string": "01 Jan 2025"})
    add("llama3_1", "single", MESSAGES["single"], True, {"builtin_tools": ["brave_search", "code_interpreter"]})
    for messages_name in ("multi_turn", "unicode", "tricky"):
        add("features", messages_name, MESSAGES[messages_name], False, FEATURE_EXTRA)

    messages = dict(MESSAGES)
    messages["tools"] = TOOL_MESSAGES
    fixture = {
        "generator": "tools/make_chat_fixtures.py",
        "jinja2": jinja2.__version__,
        "templates": TEMPLATES,
        "special_tokens": SPECIALS,
        "messages": messages,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_err = sum("error" in c for c in cases)
    n_other = sum("error_other" in c for c in cases)
    print(f"wrote {OUT}: {len(cases)} cases ({n_err} raise_exception, {n_other} other errors), "
          f"{os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
