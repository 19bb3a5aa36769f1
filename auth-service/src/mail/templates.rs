//! The mails the service writes, in English and Simplified Chinese.
//!
//! Plain text only: every client shows it, nothing in it runs, and a link
//! is a line of its own that clients make clickable.

/// The language of a mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Locale {
    #[default]
    En,
    ZhCn,
}

impl Locale {
    /// The locale of a language tag (`zh`, `zh-CN`, `zh-Hans`, `en-GB`…);
    /// English for anything else or nothing.
    pub fn from_tag(tag: Option<&str>) -> Self {
        match tag.map(|t| t.trim().to_ascii_lowercase()) {
            Some(t) if t == "zh" || t.starts_with("zh-") || t.starts_with("zh_") => Self::ZhCn,
            _ => Self::En,
        }
    }
}

/// A mail's subject and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub subject: String,
    pub text: String,
}

/// The mail of `ForgotPassword`: the link that resets the password.
pub fn password_reset(locale: Locale, link: &str, minutes: i64) -> Template {
    match locale {
        Locale::En => Template {
            subject: "Reset your password".into(),
            text: format!(
                "Someone asked to reset the password of your account.\n\n\
                 To choose a new password, open this link within {minutes} minutes:\n\n\
                 {link}\n\n\
                 The link works once. If you did not ask for this, ignore this mail: \
                 your password stays as it is.\n"
            ),
        },
        Locale::ZhCn => Template {
            subject: "重置密码".into(),
            text: format!(
                "有人申请重置您账户的密码。\n\n\
                 请在 {minutes} 分钟内打开以下链接设置新密码：\n\n\
                 {link}\n\n\
                 该链接只能使用一次。如果这不是您本人的操作，请忽略此邮件，您的密码不会改变。\n"
            ),
        },
    }
}

/// The notice after `ResetPassword`.
pub fn password_was_reset(locale: Locale) -> Template {
    match locale {
        Locale::En => Template {
            subject: "Your password was changed".into(),
            text: "The password of your account was just reset, and every session \
                   was signed out.\n\n\
                   If you did not do this, reset your password again at once and \
                   contact your administrator.\n"
                .into(),
        },
        Locale::ZhCn => Template {
            subject: "您的密码已更改".into(),
            text: "您账户的密码刚刚被重置，所有会话均已退出登录。\n\n\
                   如果这不是您本人的操作，请立即再次重置密码并联系管理员。\n"
                .into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_tags_choose_chinese_and_everything_else_english() {
        for tag in ["zh", "zh-CN", "ZH-cn", "zh-Hans", "zh_TW"] {
            assert_eq!(Locale::from_tag(Some(tag)), Locale::ZhCn, "{tag}");
        }
        for tag in ["en", "en-GB", "fr", "", "zhx"] {
            assert_eq!(Locale::from_tag(Some(tag)), Locale::En, "{tag}");
        }
        assert_eq!(Locale::from_tag(None), Locale::En);
    }

    #[test]
    fn the_reset_mail_holds_the_link_on_a_line_of_its_own() {
        let link = "https://app.example.com/reset-password?token=abc";
        for locale in [Locale::En, Locale::ZhCn] {
            let mail = password_reset(locale, link, 30);
            assert!(mail.text.lines().any(|line| line == link), "{locale:?}");
            assert!(mail.text.contains("30"));
        }
    }
}
