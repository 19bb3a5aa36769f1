DROP TABLE conversation_files;
DROP TABLE conversations;
DROP TABLE files;
