/// Meta's chat formats: the Jinja templates written into GGUF's `tokenizer.chat_template` and
/// `tokenizer_config.json` for instruct models, whose rendering, tokenized, gives the ids of
/// Meta's own chat code (`encodeDialogPrompt`, `ChatFormat.swift`); transformers'
/// `apply_chat_template` renders them and llama.cpp recognises them by their markers
/// (`docs/chat.md` §2).
public enum ChatTemplate: String, Sendable, CaseIterable {
    case llama3
    case llama2

    /// The template for a model of this tokenizer kind.
    public static func forTokenizer(_ tokenizer: any Tokenizer) -> ChatTemplate {
        tokenizer is Llama3Tokenizer ? .llama3 : .llama2
    }

    public var text: String {
        switch self {
        case .llama3:
            // Meta's ChatFormat, not the trimming template of the Hugging Face releases: content is
            // kept as given and the tool role is written `ipython` (docs/chat.md §2).
            return "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}"
                + "{% set role = 'ipython' if message['role'] == 'tool' else message['role'] %}"
                + "{{ '<|start_header_id|>' + role + '<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}{% endfor %}"
                + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
        case .llama2:
            return "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
                + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
                + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
                + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
                + "{% if loop.index0 == 0 and system_message != false %}"
                + "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
                + "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
                + "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
                + "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
        }
    }
}
