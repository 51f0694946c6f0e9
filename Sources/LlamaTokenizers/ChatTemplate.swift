/// The Jinja chat templates written into `tokenizer_config.json` (and, later, GGUF's
/// `tokenizer.chat_template`) for instruct models: the texts of Meta's Hugging Face releases
/// (Meta-Llama-3-8B-Instruct, Llama-2-7b-chat-hf), which transformers' `apply_chat_template`
/// renders and llama.cpp recognises by their markers (`docs/hf-format.md` §6).
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
            return "{% set loop_messages = messages %}{% for message in loop_messages %}"
                + "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
                + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
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
