-- labkit's pandoc filter for the Word report (labkit.report.document.to_docx).
-- pandoc's ipynb reader keeps an output's text/html as raw HTML, which the docx writer drops:
-- parse it as HTML instead, so pandas tables become Word tables (and text/markdown as markdown). Code cells whose source the
-- print options left out arrive as empty code blocks: drop them. A ```labkit-pagebreak block
-- (after the cover page) becomes a Word page break.
function RawBlock(el)
  if el.format == "html" or el.format == "markdown" then
    -- text/markdown outputs (labkit.show_text: sentences written from the run's numbers) arrive
    -- as raw markdown, which the docx writer drops too
    local ok, doc = pcall(pandoc.read, el.text, el.format == "html" and "html" or "markdown+tex_math_dollars")
    if ok then
      return doc.blocks
    end
  end
  return nil
end

local PAGE_BREAK = '<w:p><w:r><w:br w:type="page"/></w:r></w:p>'

function CodeBlock(el)
  if el.classes:includes("labkit-pagebreak") then
    return pandoc.RawBlock("openxml", PAGE_BREAK)
  end
  if el.text:match("^%s*$") then
    return {}
  end
  return nil
end
